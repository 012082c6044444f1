"""An experiment made and interrupted by an earlier layout of `tuning` is reported and resumed by today's.

old_experiment/ was made at commit 6d7bbec, when every module lived in tuning/ side by side
(tests/make_old_experiment.py says how); its tuner.pkl names tuning.progress.Progress,
tuning.placement.PendingNotice, tuning.report.budget, tuning.config.SearchSpec and tuning.trial.trial_dirname,
which live elsewhere now (tuning/stored.py maps the old names while Tune restores it).

It was made in MADE_AT, and its files name that absolute path (Tune's pickles, the searcher's study, sweep.yaml):
`tuning resume` refuses a moved experiment. The test resumes a copy under its tmp_path with that path rewritten
in every file (pickles opcode by opcode, so the module names they hold stay the old ones), never MADE_AT itself:
a fixed global path that two runs on one machine would share.

old_experiment_pl/ was made at commit 6c91eff, when the built-in models derived from pytorch_lightning, with a user
callback written against pytorch_lightning too (tests/make_old_experiment_pl.py): today's built-in mlp derives from
lightning.pytorch, so the resume is refused with what to change and what to run; once that is done it resumes.
"""

import binascii
import json
import pickletools
import re
import shutil
import sqlite3
import struct
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from tests import make_old_experiment_pl
from tests.in_process import tuning_here
from tests.make_old_experiment import MADE_AT
from tuning.report.load import load_report, read_results

# `tuning report` and `tuning resume` run in this process (the resume on the session's Ray): what is under test is
# what today's code makes of the old files, which tuning.stored serves only within a resume and takes back after it.
pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).parent / "old_experiment"
FIXTURE_PL = Path(__file__).parent / "old_experiment_pl"


def _rows(exp_dir: Path) -> dict:
    return {
        d.name: [(r["training_iteration"], r["val_loss"]) for r in read_results(d / "result.json")]
        for d in exp_dir.glob("trial_*")
    }


def _repathed_pickle(data: bytes, old: str, new: str) -> bytes:
    """The pickle `data` with `old` replaced by `new` in its strings (and in pickles nested as bytes); frames are
    dropped (they are optional), everything else is copied byte for byte."""
    ops = list(pickletools.genops(data))
    out = bytearray()
    for (op, arg, pos), end in zip(ops, [p for _, _, p in ops[1:]] + [len(data)]):
        if op.name == "FRAME":
            continue
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8") and old in arg:
            text = arg.replace(old, new).encode("utf-8", "surrogatepass")
            out += (b"\x8c" + bytes([len(text)]) if len(text) < 256 else b"X" + struct.pack("<I", len(text))) + text
        elif op.name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8") and old.encode() in arg:
            blob = _repathed_pickle(arg, old, new)
            out += (b"C" + bytes([len(blob)]) if len(blob) < 256 else b"B" + struct.pack("<I", len(blob))) + blob
        else:
            out += data[pos:end]
    return bytes(out)


def _repath(exp_dir: Path, old: str, new: str) -> None:
    """Rewrite the absolute path `old` as `new` in every file of the experiment that names it."""
    for path in exp_dir.rglob("*"):
        data = path.read_bytes() if path.is_file() else b""
        if path.suffix == ".db":
            with closing(sqlite3.connect(path)) as db, db:  # Tune's trial ids and where they ran, per Optuna trial
                db.execute("UPDATE trial_user_attributes SET value_json = replace(value_json, ?, ?)", (old, new))
        elif data.startswith(b"\x80"):  # a pickle (searcher-state-*.pkl, tuner.pkl, search_gen_state-*.json)
            path.write_bytes(_repathed_pickle(data, old, new))
        elif old.encode().hex().encode() in data:  # JSON holding hex-encoded (cloud)pickles: experiment_state-*.json
            path.write_bytes(re.sub(rb"[0-9a-f]{64,}", lambda m: _repathed_hex(m.group(), old, new), data))
        elif old.encode() in data:
            path.write_bytes(data.replace(old.encode(), new.encode()))
    for path in exp_dir.rglob("*"):
        data = path.read_bytes() if path.is_file() else b""
        if path.suffix == ".db":
            with closing(sqlite3.connect(path)) as db:
                data = "".join(db.iterdump()).encode()
        assert old.encode() not in data and old.encode().hex().encode() not in data, f"{path} still names {old}"


def _repathed_hex(hexed: bytes, old: str, new: str) -> bytes:
    data = binascii.unhexlify(hexed)
    return binascii.hexlify(_repathed_pickle(data, old, new)) if old.encode() in data else hexed


def _made_here(fixture: Path, made_at_then: Path, tmp_path: Path) -> Path:
    """`fixture` as if it had been made in tmp_path: copied there, every path in it rewritten."""
    made_at = tmp_path / "made"
    exp_dir = made_at / "runs" / "old"
    shutil.copytree(fixture, exp_dir)
    _repath(exp_dir, str(made_at_then), str(made_at))
    assert yaml.safe_load((exp_dir / "sweep.yaml").read_text())["run"]["storage"] == str(made_at / "runs")
    return exp_dir


@pytest.fixture
def old_experiment(tmp_path):
    return _made_here(FIXTURE, MADE_AT, tmp_path)


def test_an_old_interrupted_experiment_is_reported_and_resumed_to_completion(ray_session, old_experiment):
    report = tuning_here("report", str(FIXTURE), "--format", "json")
    assert report.returncode == 0, report.stderr
    statuses = sorted(t["status"] for t in json.loads(report.stdout)["trials"])
    assert statuses == ["completed", "completed", "running", "running"]
    finished = {k: v for k, v in _rows(old_experiment).items() if len(v) == 2}
    assert len(finished) == 2

    made_at_before = MADE_AT.exists()  # (another checkout's old test may be using it)
    done = _resume(old_experiment)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert made_at_before or not MADE_AT.exists(), f"the resume wrote to {MADE_AT}, where the fixture was made"
    trials = load_report(str(old_experiment)).trials
    assert len(trials) == 4 and all(t.status == "completed" for t in trials)
    rows = _rows(old_experiment)
    assert all([i for i, _ in r] == [1, 2] for r in rows.values()), rows
    assert {k: rows[k] for k in finished} == finished, "a finished trial was run again"
    assert len({json.dumps(t.config, sort_keys=True) for t in trials}) == 4, "a config was suggested twice"


def _resume(exp_dir: Path):
    """`tuning resume EXP` in this process, on the session's Ray (tests.in_process)."""
    return tuning_here("resume", str(exp_dir))


def _contents(exp_dir: Path) -> dict:
    return {p: p.read_bytes() for p in exp_dir.rglob("*") if p.is_file()}


def test_an_experiment_of_the_pytorch_lightning_builtins_says_what_to_change_and_then_resumes(ray_session, tmp_path):
    """The built-in mlp with a user callback of pytorch_lightning, as the release before 2f201cf ran it: today's mlp
    derives from lightning.pytorch, and one Trainer cannot take both. The resume is refused (exit 2, nothing
    changed) naming the callback's module, the import to use and the command; done as it says, the resume finishes
    the sweep without running a finished trial again."""
    exp_dir = _made_here(FIXTURE_PL, make_old_experiment_pl.MADE_AT, tmp_path)
    finished = {k: v for k, v in _rows(exp_dir).items() if len(v) == 2}
    assert len(finished) == 2
    before = _contents(exp_dir)

    refused = _resume(exp_dir)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-3000:]
    assert (
        "in tests.user_callbacks_pl import from lightning.pytorch instead of pytorch_lightning" in refused.stderr
        and "then run the same command again" in refused.stderr
    ), refused.stderr
    assert _contents(exp_dir) == before, "the refused resume changed the experiment"

    # What the message asks: the callback written against lightning.pytorch (tests.user_callbacks.SlowEpochs is it).
    sweep = exp_dir / "sweep.yaml"
    sweep.write_text(sweep.read_text().replace(make_old_experiment_pl.CALLBACK, "tests.user_callbacks.SlowEpochs"))
    done = _resume(exp_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = load_report(str(exp_dir)).trials
    assert len(trials) == 4 and all(t.status == "completed" for t in trials)
    rows = _rows(exp_dir)
    assert {k: rows[k] for k in finished} == finished, "a finished trial was run again"

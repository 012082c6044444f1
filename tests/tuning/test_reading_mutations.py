"""Property: a real experiment, damaged as a crash, a hand edit or an attacker would damage it, is read by every
reading command with exit 0 or 2, never a traceback, never a hang, never the content behind a link out.

Each example copies the experiment of test_reading_bounds (the real fixture sweep, one trial errored) and
applies one to three mutations to its files (sweep.yaml, environment.json, Tune's state file with the trial
states inside it, each trial's result.json, trial.json, params.json, error.txt and checkpoints, the trial
directories themselves): cut short, a value replaced by one of the wrong type (inside the JSON strings of
the state file too), a key dropped, the file replaced by a link out of the experiment (to a valid file of
its kind holding a secret), by a FIFO, by a 1 GB sparse file, by JSON 10,000 levels deep or a YAML alias
bomb, a trial directory replaced by a link out. Then one command: report in a format, compare or export,
in this process through tuning.cli.main (an exception escaping it fails the example). A FIFO opened for
reading would wait forever: the test's timeout is the hang check.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.tuning.test_reading_bounds import (
    ALIAS_BOMB,
    DEEP_JSON,
    DEEP_YAML,
    MARKER,
    make_experiment,
    run_cli,
    secrets,
    written,
)

EXAMPLES = int(os.environ.get("MUTATION_EXAMPLES", 320))  # across the commands below: ~40 each
COMMANDS = [("report", fmt) for fmt in ("table", "json", "csv", "markdown", "html", "parquet")] + [
    ("compare",),
    ("export",),
]
WRONG = [
    "abc",
    "",
    -1,
    0,
    2.5,
    1e308,
    float("nan"),
    10**30,
    None,
    True,
    [],
    {},
    [1, "a"],
    {"choice": 5},
    {"a": {"b": [None]}},
    "../../etc/passwd",
    "\ud800",
    "\x1b[2J",
]
KINDS = ("truncate", "retype", "retype", "retype", "drop", "drop", "link_out", "fifo", "huge", "deep")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, dict]:
    """The experiment without the files no reader opens (TensorBoard logs, Tune's pickles, progress.csv):
    copied once per example, it is half the files."""
    root = tmp_path_factory.mktemp("pristine")
    exp = make_experiment(root)
    for path in [*exp.glob("trial_*/tensorboard"), *exp.rglob("*.pkl"), *exp.glob("trial_*/progress.csv")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return exp, secrets(root)


def _targets(exp: Path) -> list[str]:
    """The files the readers read (and the checkpoints export copies), relative to the experiment."""
    names = ("result.json", "trial.json", "params.json", "error.txt")
    files = ["sweep.yaml", "environment.json", next(exp.glob("experiment_state-*.json")).name]
    files += sorted(str(p.relative_to(exp)) for p in exp.glob("trial_*/*") if p.name in names)
    return files + sorted(str(p.relative_to(exp)) for p in exp.glob("trial_*/checkpoint_*/checkpoint.ckpt"))


def _paths(value, at=()) -> list[tuple]:
    """Every place in JSON/YAML data, as key paths; ("json",) steps into a string that holds a JSON object."""
    out = [at]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*at, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _paths(sub, (*at, i))
    elif isinstance(value, str) and value.startswith("{"):
        try:
            out += _paths(json.loads(value), (*at, "json"))
        except ValueError:
            pass
    return out


def _edit(value, path: tuple, new, drop: bool):
    """`value` with the place `path` set to `new` (or, with `drop`, that key or item removed)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if head == "json":
        return json.dumps(_edit(json.loads(value), rest, new, drop))
    if drop and not rest:
        value.pop(head)
        return value
    value[head] = _edit(value[head], rest, new, drop)
    return value


def _restructure(path: Path, data, drop: bool) -> None:
    """A value replaced by one of the wrong type, or a key dropped, somewhere in a JSON or YAML file."""
    text = path.read_text(errors="replace")
    lines = text.splitlines() if path.name == "result.json" else [text]
    if not any(line.strip() for line in lines):
        return
    index = data.draw(st.sampled_from([i for i, line in enumerate(lines) if line.strip()]))
    load = yaml.safe_load if path.suffix == ".yaml" else json.loads
    try:
        doc = load(lines[index])
    except (ValueError, yaml.YAMLError, RecursionError):  # cut short or made deep by an earlier mutation
        return
    places = [p for p in _paths(doc) if not drop or (p and p[-1] != "json")]
    if not places:
        return
    place = data.draw(st.sampled_from(places))
    doc = _edit(doc, place, None if drop else data.draw(st.sampled_from(WRONG)), drop)
    lines[index] = yaml.safe_dump(doc) if path.suffix == ".yaml" else json.dumps(doc)
    path.write_text("\n".join(lines) + "\n")


def _replace(path: Path, kind: str, secret: dict, data) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    if kind == "link_out":
        path.symlink_to(secret.get(path.name, secret["error.txt"]))
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "deep":
        path.write_text(data.draw(st.sampled_from([ALIAS_BOMB, DEEP_YAML])) if path.suffix == ".yaml" else DEEP_JSON)


def mutate(exp: Path, secret: dict, data) -> str:
    """Apply one mutation to one file or trial directory of `exp`; what was done, for the failure message."""
    targets = _targets(exp)
    if data.draw(st.integers(0, 9)) == 0:  # a whole trial directory, linked out
        trial = exp / data.draw(st.sampled_from(sorted({t.split("/")[0] for t in targets if "/" in t})))
        if trial.is_dir() and not trial.is_symlink():
            outside = Path(tempfile.mkdtemp(dir=exp.parent))
            shutil.move(trial, outside / trial.name)
            for name in ("error.txt", "result.json", "trial.json"):
                (outside / trial.name / name).unlink(missing_ok=True)  # a link or FIFO planted before
                shutil.copy(secret[name], outside / trial.name / name)
            trial.symlink_to(outside / trial.name)
        return f"link_dir {trial.name}"
    rel, kind = data.draw(st.sampled_from(targets)), data.draw(st.sampled_from(KINDS))
    path = exp / rel
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:  # replaced or made huge before
        return f"{kind} {rel} (already replaced)"
    if kind == "truncate":
        os.truncate(path, data.draw(st.integers(0, max(path.stat().st_size - 1, 0))))
    elif kind == "huge":
        os.truncate(path, 1 << 30)  # sparse: 1 GB to a reader, nothing on disk
    elif kind in ("retype", "drop"):
        _restructure(path, data, drop=kind == "drop")
    else:
        _replace(path, kind, secret, data)
    return f"{kind} {rel}"


def command(exp: Path, pristine_exp: Path, which: tuple, work: Path) -> tuple[int, str]:
    """Run one reading command on the mutated `exp`; (exit code, all it printed and wrote)."""
    out = work / "out"
    if which[0] == "report":
        to_file = ("--output", out / f"r.{which[1]}") if which[1] in ("html", "parquet") else ()
        out.mkdir()
        code, stdout, stderr = run_cli("report", exp, "--format", which[1], *to_file)
    elif which[0] == "compare":
        code, stdout, stderr = run_cli("compare", exp, pristine_exp)
    else:
        code, stdout, stderr = run_cli("export", exp, "--output", out)
    return code, stdout + stderr + (written(out) if out.exists() else "")


# A hang (a FIFO opened for reading) fails here with its stack; the thread method, as a wait inside pyarrow's
# C++ open never returns to Python for the signal method to act.
@pytest.mark.timeout(600, method="thread")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_reading_command_exits_0_or_2_on_a_mutated_experiment(pristine, data):
    pristine_exp, secret = pristine
    with tempfile.TemporaryDirectory(prefix="mutated-") as work:
        exp = Path(work) / "exp"
        shutil.copytree(pristine_exp, exp, symlinks=True)
        done = [mutate(exp, secret, data) for _ in range(data.draw(st.integers(1, 3)))]
        which = data.draw(st.sampled_from(COMMANDS))
        for what in (" ".join(which), *(d.split()[0] for d in done)):
            event(what)  # --hypothesis-show-statistics: how often each command and mutation ran
        code, shown = command(exp, pristine_exp, which, Path(work))
        event(f"exit {code}")
        assert code in (0, 2), (which, done, shown[-3000:])
        assert MARKER not in shown, (which, done, "shows what a link out of the experiment leads to")

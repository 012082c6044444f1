"""`tuning resume` reads its experiment as every reader does (issue 32 item 2): regular files inside it only,
each bounded. A FIFO (which would block the read forever), a file over the size bound (or /dev/zero behind a
link) and a link out of the experiment are refused before anything is changed and before Ray starts: a
UserError naming the file, exit 2. Unit layer: no Ray starts (the command-line test proves it)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tuning.driver import resume
from tuning.driver.lock import LOCK_FILE
from tuning.errors import UserError
from tuning.expdir import MAX_FILE_BYTES

FIXTURE = Path(__file__).parent / "old_experiment"  # written by a real sweep, 4 trials
TRIAL = "trial_0002_2a013ee1"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def exp(tmp_path) -> Path:
    """A resumable copy of the fixture experiment: its sweep names where it now lies (load_experiment checks)."""
    exp = tmp_path / "old"
    shutil.copytree(FIXTURE, exp)
    sweep = yaml.safe_load((exp / "sweep.yaml").read_text())
    sweep["run"]["storage"] = str(tmp_path)
    (exp / "sweep.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    return exp


def state_file(exp: Path) -> Path:
    return next(exp.glob("experiment_state-*.json"))


def snapshot(exp: Path) -> list:
    """(path, size, mtime) of every regular file below `exp`: what a refused resume must leave as it was."""
    return sorted(
        (str(p.relative_to(exp)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in exp.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


def plant_fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)  # opened for reading, it would wait for a writer that never comes
    return path


def plant_huge(path: Path) -> Path:
    with open(path, "ab") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used, but over the bound for whoever reads it
    return path


PLANTED = {  # name -> the file, relative to the experiment
    "state file": lambda exp: state_file(exp).relative_to(exp),
    "trial.json": lambda exp: Path(TRIAL, "trial.json"),
    "result.json": lambda exp: Path(TRIAL, "result.json"),
    "params.json": lambda exp: Path(TRIAL, "params.json"),
    "progress.csv": lambda exp: Path(TRIAL, "progress.csv"),
    "environment.json": lambda exp: Path("environment.json"),
    "optuna.db": lambda exp: Path("optuna.db"),
}


def test_the_copy_loads_for_resume(exp):
    exp_dir, cfg = resume.load_experiment(str(exp))
    assert exp_dir == exp and cfg.name == "old"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", PLANTED)
def test_a_fifo_in_the_experiment_is_refused_before_anything_changes(exp, name):
    planted = plant_fifo(exp / PLANTED[name](exp))
    before = snapshot(exp)
    with pytest.raises(UserError, match=rf"^{planted}: not read \(a FIFO, not a regular file\)"):
        resume.load_experiment(str(exp))
    assert snapshot(exp) == before


@pytest.mark.timeout(30)
def test_a_fifo_as_sweep_yaml_is_refused(exp):
    planted = plant_fifo(exp / "sweep.yaml")
    with pytest.raises(UserError, match=rf"^{planted}: not read \(a FIFO, not a regular file\)"):
        resume.load_experiment(str(exp))


@pytest.mark.parametrize("name", ["state file", "result.json", "params.json", "environment.json"])
def test_a_file_over_the_size_bound_is_refused_unread(exp, name, monkeypatch):
    planted = plant_huge(exp / PLANTED[name](exp))
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    with pytest.raises(UserError, match=rf"^{planted}: not read \({MAX_FILE_BYTES + 1} bytes, over the limit"):
        resume.load_experiment(str(exp))
    assert str(planted) not in opened, "the file was opened, not refused on its size"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", ["/dev/null", "outside"])  # /dev/zero: a regression would eat memory
def test_a_link_out_of_the_experiment_is_refused(exp, tmp_path, target):
    """A device behind a state file's name (/dev/zero would be read until memory runs out; /dev/null here, which
    a regression reads harmlessly) or a link to a file outside: resume would read (and rewrite) what is not the
    experiment's."""
    outside = tmp_path / "outside.json"
    outside.write_text(state_file(exp).read_text())
    planted = state_file(exp)
    planted.unlink()
    planted.symlink_to(target if target.startswith("/") else outside)
    with pytest.raises(UserError, match=rf"^{planted}: not read \(a link that leads out of the experiment\)"):
        resume.load_experiment(str(exp))


def test_a_link_inside_the_experiment_is_read(exp):
    params = exp / TRIAL / "params.json"
    (exp / "params-copy.json").write_text(params.read_text())
    params.unlink()
    params.symlink_to(exp / "params-copy.json")
    assert resume.load_experiment(str(exp))[0] == exp
    assert resume.read_json(params, exp) == json.loads((exp / "params-copy.json").read_text())


@pytest.mark.timeout(30)
def test_each_repair_reads_through_the_bounds(exp):
    """The functions themselves, called without load_experiment's check first (a file swapped since)."""
    result = plant_fifo(exp / TRIAL / "result.json")
    with pytest.raises(UserError, match=rf"^{result}: not read \(a FIFO, not a regular file\)"):
        resume.repair_results(exp)
    with pytest.raises(UserError, match=rf"^{result}: not read \(a FIFO"):
        resume._cut_results(exp / TRIAL, 1)
    state = plant_huge(state_file(exp))
    with pytest.raises(UserError, match=rf"^{state}: not read \({MAX_FILE_BYTES + 1} bytes, over the limit"):
        resume.repair_checkpoints(exp)


@pytest.mark.timeout(30)
def test_trial_states_reads_params_json_through_the_bounds(tmp_path):
    """A trial whose state holds no plain config: its params.json is read, never waited on."""
    (tmp_path / "trial_0001_a").mkdir()
    params = plant_fifo(tmp_path / "trial_0001_a" / "params.json")
    entry = json.dumps({"trial_id": "a", "status": "RUNNING", "relative_logdir": "trial_0001_a"})
    (tmp_path / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps({"trial_data": [[entry, "{}"]]}))
    with pytest.raises(UserError, match=rf"^{params}: not read \(a FIFO"):
        resume.trial_states(tmp_path)
    params.unlink()
    params.write_text('{"lr": 0.1}')
    assert resume.trial_states(tmp_path)[0]["params"] == {"lr": 0.1}
    params.write_text('{"lr": 0.1')  # cut short
    with pytest.raises(UserError, match=rf"^{params}: not read \(not JSON, or cut short\)"):
        resume.trial_states(tmp_path)


# `tuning resume` as a user runs it, with ray.init made to fail loudly: the check must come before Ray starts.
_NO_RAY = """\
import sys
import ray

def _no_ray(*args, **kwargs):
    print("RAY STARTED", file=sys.stderr)
    raise SystemExit(99)

ray.init = _no_ray
from tuning.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("plant", ["fifo", "huge"])
def test_resume_command_exits_2_naming_the_file_before_ray_starts(exp, plant):
    planted = (plant_fifo if plant == "fifo" else plant_huge)(state_file(exp))
    before = snapshot(exp)
    done = subprocess.run(
        [sys.executable, "-c", _NO_RAY, "resume", str(exp)], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    why = "a FIFO, not a regular file" if plant == "fifo" else f"{MAX_FILE_BYTES + 1} bytes, over the limit"
    assert line.startswith(f"tuning resume: error: {planted}: not read ({why}") and "nothing was changed" in line
    assert snapshot(exp) == before and not (exp / LOCK_FILE).exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["tuner.pkl", "result.json"])
def test_a_file_uri_experiment_is_checked_where_tune_reads_it(exp, name):
    """A `file://` resume works on a downloaded copy, but Tune's restore reads the experiment itself: a FIFO there
    (skipped by the download) is refused as in a local resume, not left to hang Tune."""
    from tuning.driver.uri_resume import load_uri_experiment

    planted = plant_fifo(exp / (name if name == "tuner.pkl" else PLANTED[name](exp)))
    before = snapshot(exp)
    with pytest.raises(UserError, match=rf"^{planted}: not read \(a FIFO, not a regular file\)"):
        load_uri_experiment(f"file://{exp}")
    assert snapshot(exp) == before

"""An experiment made and interrupted by an earlier layout of `tuning` is reported and resumed by today's.

old_experiment/ was made at commit 6d7bbec, when every module lived in tuning/ side by side
(tests/make_old_experiment.py says how); its tuner.pkl names tuning.progress.Progress,
tuning.placement.PendingNotice, tuning.report.budget and tuning.trial.trial_dirname, all of which live in
wings now (tuning/_moved.py and the wings' faces keep the old names).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.make_old_experiment import MADE_AT
from tuning.report.load import load_report, read_results

pytestmark = pytest.mark.integration  # a real `tuning resume` process
ROOT = Path(__file__).resolve().parents[3]
FIXTURE = Path(__file__).parent / "old_experiment"


def _rows(exp_dir: Path) -> dict:
    return {d.name: [(r["training_iteration"], r["val_loss"]) for r in read_results(d / "result.json")]
            for d in exp_dir.glob("trial_*")}


@pytest.fixture
def old_experiment():
    """The fixture where it was made (a moved experiment is not resumed), removed afterwards."""
    shutil.rmtree(MADE_AT, ignore_errors=True)
    exp_dir = MADE_AT / "runs" / "old"
    shutil.copytree(FIXTURE, exp_dir)
    yield exp_dir
    shutil.rmtree(MADE_AT, ignore_errors=True)


def test_an_old_interrupted_experiment_is_reported_and_resumed_to_completion(old_experiment):
    report = subprocess.run([sys.executable, "-m", "tuning", "report", str(FIXTURE), "--format", "json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    statuses = sorted(t["status"] for t in json.loads(report.stdout)["trials"])
    assert statuses == ["completed", "completed", "running", "running"]
    finished = {k: v for k, v in _rows(old_experiment).items() if len(v) == 2}
    assert len(finished) == 2

    done = subprocess.run([sys.executable, "-m", "tuning", "resume", str(old_experiment)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = load_report(str(old_experiment)).trials
    assert len(trials) == 4 and all(t.status == "completed" for t in trials)
    rows = _rows(old_experiment)
    assert all([i for i, _ in r] == [1, 2] for r in rows.values()), rows
    assert {k: rows[k] for k in finished} == finished, "a finished trial was run again"
    assert len({json.dumps(t.config, sort_keys=True) for t in trials}) == 4, "a config was suggested twice"

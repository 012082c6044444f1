"""Makes tests/tuning/driver/old_experiment: a sweep interrupted (Ctrl-C) by the code of the commit it was made with.

The experiment's pickles (Tune's tuner and experiment state, the searcher state) name the module paths
of that code; tests/tuning/driver/test_old_experiment.py reports and resumes it with today's code. Made with:

    python -m tests.make_old_experiment tests/tuning/driver/old_experiment

at commit 6d7bbec (the last layout with every module in tuning/ side by side).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import TINY_SWEEP

ROOT = Path(__file__).resolve().parents[1]
# Where the experiment is made and must lie to be resumed: Tune's pickled searcher names its optuna.db by
# absolute path, so `tuning resume` refuses a moved experiment (README, "When things go wrong").
MADE_AT = Path("/tmp/tuning-old-experiment")


def _finished(exp_dir: Path) -> int:
    from tuning.driver.resume import trial_states

    return sum(s["status"] == "TERMINATED" for s in trial_states(exp_dir)) if exp_dir.exists() else 0


def main(out: Path) -> None:
    shutil.rmtree(MADE_AT, ignore_errors=True)
    MADE_AT.mkdir(parents=True)
    sweep = dict(
        TINY_SWEEP,
        trainer={
            "max_epochs": 2,
            "accelerator": "cpu",
            "callbacks": [{"class_path": "tests.user_callbacks.SlowEpochs", "init_args": {"seconds": 1.0}}],
        },
    )
    sweep["search"] = dict(sweep["search"], num_samples=4, scheduler={"name": "fifo"})
    sweep_file = MADE_AT / "sweep-in.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep))
    exp_dir = MADE_AT / "runs" / "old"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuning", "run", str(sweep_file), "--storage", str(MADE_AT / "runs"), "--name", "old"],
        cwd=ROOT,
        start_new_session=True,
    )
    while _finished(exp_dir) < 2:
        assert proc.poll() is None, "tuning run ended before two trials finished"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: Tune saves its state and the run exits 130
    assert proc.wait(timeout=120) == 130
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(exp_dir, out)
    shutil.rmtree(MADE_AT)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())

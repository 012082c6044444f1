"""Makes tests/tuning/driver/old_experiment_pl: a sweep of the built-in `mlp` with a user callback written against
`pytorch_lightning` (tests/user_callbacks_pl.py), interrupted (Ctrl-C) by the release whose built-ins derived from
`pytorch_lightning` too, before they moved to `lightning.pytorch` (commit 2f201cf). Made with:

    git worktree add /tmp/wt-old 6c91eff
    python -m tests.make_old_experiment_pl /tmp/wt-old tests/tuning/driver/old_experiment_pl

The old code runs from the worktree (PYTHONPATH, its own `tuning`, `models` and `data`) with today's libraries;
tests/tuning/driver/test_old_experiment.py checks what today's `tuning resume` makes of it.
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
from tests.make_old_experiment import _finished

ROOT = Path(__file__).resolve().parents[1]
# Where the experiment is made and must lie to be resumed (see tests/make_old_experiment.py).
MADE_AT = Path("/tmp/tuning-old-experiment-pl")
CALLBACK = "tests.user_callbacks_pl.SlowEpochs"


def main(old: Path, out: Path) -> None:
    shutil.rmtree(MADE_AT, ignore_errors=True)
    MADE_AT.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "user_callbacks_pl.py", old / "tests" / "user_callbacks_pl.py")  # the user's code
    sweep = dict(
        TINY_SWEEP,
        trainer={
            "max_epochs": 2,
            "accelerator": "cpu",
            "callbacks": [{"class_path": CALLBACK, "init_args": {"seconds": 1.0}}],
        },
    )
    sweep["search"] = dict(sweep["search"], num_samples=4, scheduler={"name": "fifo"})
    sweep_file = MADE_AT / "sweep-in.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep))
    exp_dir = MADE_AT / "runs" / "old"
    env = dict(os.environ, PYTHONPATH=str(old))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuning", "run", str(sweep_file), "--storage", str(MADE_AT / "runs"), "--name", "old"],
        cwd=old,
        env=env,
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
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())

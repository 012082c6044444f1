"""Real `tuning` processes for tests and benchmarks: started as a terminal would, signalled, and killed as a crash
would (SIGKILL, no clean-up)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

# `python -c` of this runs the `tuning` command exactly as `python -m tuning` does, and touches the file named by
# $TUNING_TEST_STOP_WITNESS when the driver asks Ray Tune for its clean stop: tuning/driver/tuner.py's _StopOnSignal
# sends its own process SIGUSR1 as it handles the first Ctrl-C or SIGTERM. A second signal sent before that
# moment could merge with the first (a pending signal is one flag), so a test waits for the file instead of
# sleeping and hoping the first was handled. An audit hook only watches: the command runs unchanged.
_WITNESSED_TUNING = """\
import os, signal, sys

def _witness(event, args):
    if event == "os.kill" and args == (os.getpid(), signal.SIGUSR1):
        open(os.environ["TUNING_TEST_STOP_WITNESS"], "a").close()

sys.addaudithook(_witness)
from tuning.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def start_tuning(*args: str, log: Path, cwd: Path = ROOT, env: dict | None = None) -> subprocess.Popen:
    """`tuning ARGS` in its own process group (a session), as a terminal would run it, output to `log`; see
    `stop_requested` for when it has handled a first Ctrl-C or SIGTERM."""
    env = dict(os.environ if env is None else env, TUNING_TEST_STOP_WITNESS=str(stop_witness(log)))
    return subprocess.Popen(
        [sys.executable, "-c", _WITNESSED_TUNING, *args],
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def stop_witness(log: Path) -> Path:
    """The file that appears when the process started with `log` has asked Ray Tune for its clean stop."""
    return log.with_name(log.name + ".stop-requested")


def wait_until(ready, proc: subprocess.Popen, log: Path, what: str, timeout: float = 300) -> None:
    """Poll `ready()` until it holds; fail, with the end of the log, if `proc` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"tuning exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not {what} in {timeout:g} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def stop_requested(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Wait until the process started by `start_tuning` has handled its first Ctrl-C or SIGTERM."""
    wait_until(stop_witness(log).exists, proc, log, "handling the first stop signal", timeout)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL `proc`'s process group and every process it started (Ray's own may have left the group)."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    proc.wait(timeout=30)

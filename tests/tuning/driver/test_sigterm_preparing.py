"""SIGTERM at any point of `tuning run` ends it as Ctrl-C does (issue 32, item 6): exit 130, one line, nothing
half-written. Tune's fit has its own clean stop (tests/tuning/driver/test_resume.py); these stop the run while it
still prepares: before Ray starts, and while it prepares the data with Ray running (Ray's own SIGTERM handlers
would otherwise exit 15, or dump the driver's stack and abort). The unit tests below check the parts in this
process, without Ray: start_ray keeping the command's handler, a stop turned into another error on its way up,
and the experiment's first file written whole or not at all."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.processes import kill_group
from tuning.cli import signals

ROOT = Path(__file__).resolve().parents[3]

# `tuning run` as a user runs it, but for ray.init, made to touch $TUNING_TEST_MARKER and wait: the run is
# stopped before Ray is started (and before it could set any handler of its own).
_WAITING_RAY = """\
import os, sys, time
from pathlib import Path
import ray

def _waiting_init(*args, **kwargs):
    Path(os.environ["TUNING_TEST_MARKER"]).touch()
    time.sleep(120)

ray.init = _waiting_init
from tuning.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _start(args: list[str], log: Path, code: str | None = None, env: dict | None = None) -> subprocess.Popen:
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "tuning", *args]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait_for(marker: Path, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, f"tuning exited ({proc.returncode}) before preparing:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not preparing after {timeout:g} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def _stopped_cleanly(proc: subprocess.Popen, log: Path, storage: Path) -> str:
    """SIGTERM to the driver alone (`kill PID`): exit 130 and one line, no traceback, no stack dump, no experiment
    directory (nothing was written before the stop)."""
    os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout=90)
    out = log.read_text()
    assert code == 130, f"exit {code}:\n{out[-3000:]}"
    assert "tuning run: interrupted" in out.splitlines(), out[-3000:]
    assert "Traceback" not in out and "SIGTERM received" not in out and "error" not in out.lower(), out[-3000:]
    assert not (storage / "stopped").exists() or not any((storage / "stopped").iterdir())
    return out


@pytest.fixture
def slow_sweep(tmp_path, tiny_sweep) -> Path:
    tiny_sweep["data"] = {
        "class_path": "tests.slow_prepare.SlowToPrepare",
        "init_args": {"marker": str(tmp_path / "preparing"), "seconds": 120.0, "batch_size": 128},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    return path


@pytest.mark.integration  # a `tuning run` process, signalled, with Ray running
def test_sigterm_while_the_data_is_prepared_exits_130_with_nothing_written(tmp_path, slow_sweep):
    """Ray is running (started before the data, so its workers import Lightning meanwhile), with the SIGTERM
    handlers it set as it started put aside; the stop ends the run as Ctrl-C does, and Ray's processes with it."""
    log, storage = tmp_path / "run.log", tmp_path / "runs"
    run = _start(["run", str(slow_sweep), "--storage", str(storage), "--name", "stopped"], log)
    try:
        _wait_for(tmp_path / "preparing", run, log)
        ray_processes = [p for p in psutil.Process(run.pid).children(recursive=True) if p.name() == "raylet"]
        assert ray_processes, "Ray was not started before the data"
        _stopped_cleanly(run, log, storage)
        _gone, alive = psutil.wait_procs(ray_processes, timeout=30)
        assert not alive, f"Ray's processes outlived the run: {alive}"
    finally:
        kill_group(run) if run.poll() is None else None


@pytest.mark.integration  # a `tuning run` process, signalled
def test_sigterm_before_ray_starts_exits_130(tmp_path, tiny_sweep):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    log, storage, marker = tmp_path / "run.log", tmp_path / "runs", tmp_path / "starting-ray"
    args = ["run", str(path), "--storage", str(storage), "--name", "stopped"]
    run = _start(args, log, code=_WAITING_RAY, env={"TUNING_TEST_MARKER": str(marker)})
    try:
        _wait_for(marker, run, log)
        _stopped_cleanly(run, log, storage)
    finally:
        kill_group(run) if run.poll() is None else None


def _ctrl_c(signum, frame):
    raise KeyboardInterrupt


@pytest.fixture
def sigterm_handler():
    """SIGTERM as the command sets it (tuning.cli.commands), put back as it was afterwards."""
    previous = signal.signal(signal.SIGTERM, _ctrl_c)
    yield _ctrl_c
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def head():
    """An address that answers a connect (start_ray checks one is there before ray.init, which is faked here)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_start_ray_puts_the_commands_handler_back_over_rays(sigterm_handler, monkeypatch, restore_environ, head):
    import ray

    from tuning.driver.tuner import start_ray

    def init(**kwargs):  # Ray sets its own handler as it starts
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    start_ray(head)
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler


def test_a_sigterm_while_ray_starts_is_an_interruption(sigterm_handler, monkeypatch, restore_environ, head):
    """ray.init exits (SystemExit) from the SIGTERM handler it set: with the command's handler set, that is Ctrl-C's
    KeyboardInterrupt; a caller with SIGTERM's default (a library user, the tests' Ray session) sees Ray's own."""
    import ray

    from tuning.driver.tuner import start_ray

    def init(**kwargs):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        sys.exit(signal.SIGTERM)  # as Ray's handler does when the signal comes

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(KeyboardInterrupt):
        start_ray(head)
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with pytest.raises(SystemExit):
        start_ray(head)


@pytest.fixture
def default_sigterm():
    """SIGTERM's default action, as in a fresh `tuning` process (a Ray session started earlier in this process set its
    own), put back as it was afterwards."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_stop_raised_again_as_another_error_is_still_exit_130(default_sigterm, monkeypatch, capsys):
    """A user module whose import a Ctrl-C or SIGTERM cut short is reported by the import as its failure (a
    UserError naming the module); a stop it is all the same: exit 130, `interrupted`."""
    from tuning.cli import commands
    from tuning.errors import UserError

    def stopped_while_importing(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at once
        except KeyboardInterrupt:
            raise UserError("model.class_path: importing module 'm' failed: KeyboardInterrupt") from None

    monkeypatch.setattr(commands, "_run", lambda args: _through(commands, stopped_while_importing, args))
    assert commands.main(["run", "quickstart"]) == 130
    err = capsys.readouterr().err
    assert err.splitlines() == ["tuning run: interrupted"], err
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "the command's handler outlived it"

    def bad_input(args):
        raise UserError("search.metric: missing")

    monkeypatch.setattr(commands, "_run", lambda args: _through(commands, bad_input, args))
    assert commands.main(["run", "quickstart"]) == 2  # a stop of an earlier command is not remembered


def _through(commands, body, args):
    with signals.sigterm_as_ctrl_c():
        return body(args)


def test_the_first_file_of_an_experiment_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A stop as the run writes its sweep.yaml (the moment it claims the experiment) leaves no part of it."""
    from tuning import storage

    location = tmp_path / "runs" / "exp" / "sweep.yaml"

    def stopped(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "link", stopped)
    with pytest.raises(KeyboardInterrupt):
        storage.claim(str(location), "name: exp\n")
    assert list(location.parent.iterdir()) == []
    monkeypatch.undo()
    storage.claim(str(location), "name: exp\n")
    assert [p.name for p in location.parent.iterdir()] == ["sweep.yaml"] and location.read_text() == "name: exp\n"

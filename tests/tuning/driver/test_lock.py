"""One driver per experiment (tuning.driver.lock): a second driver is refused while the first runs, a stale lock
is taken over, the lock goes with every end; `resume --more` changes num_samples only once the extension has started."""

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import yaml

from tests.in_process import tuning_here
from tests.processes import kill_group
from tuning.data.digits import DigitsDataModule
from tuning.driver import lock
from tuning.driver.lock import LOCK_FILE, ExperimentLocked, driver_lock

ROOT = Path(__file__).resolve().parents[3]
HOUR_AGO = "2020-01-01T00:00:00+00:00"


def _hold(gate: str) -> None:
    """While `<gate>.hold` exists: touch `<gate>.reached` and wait (two minutes at most), so that a test acts while
    a driver surely stands at this point."""
    if not gate or not os.path.exists(f"{gate}.hold"):
        return
    Path(f"{gate}.reached").touch()
    deadline = time.monotonic() + 120
    while os.path.exists(f"{gate}.hold") and time.monotonic() < deadline:
        time.sleep(0.1)


class HoldAtEpochStart(L.Callback):
    """A trial that waits at each epoch start while the gate is held: its driver is surely running the sweep."""

    def __init__(self, gate: str = ""):
        self.gate = gate

    def on_train_epoch_start(self, trainer, pl_module):
        if os.environ.get("TUNING_IN_TRIAL"):  # not in the driver's preflight fit
            _hold(self.gate)


class GatedDigits(DigitsDataModule):
    """Digits whose preparation, which the driver does before any trial starts, waits while the gate is held."""

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        gate: str = "",
    ):
        super().__init__(batch_size, num_workers, val_fraction, test_fraction, split_seed)  # hparams: all of these
        self.gate = gate

    def prepare_data(self):
        if not os.environ.get("TUNING_IN_TRIAL"):
            _hold(self.gate)


def _record(path: Path, host: str, pid: int, heartbeat: str, token: str = "theirs") -> None:
    """A lock written by hand, whole at once (a heartbeat may read it meanwhile)."""
    staged = path.with_name("by-hand")
    staged.write_text(
        json.dumps(
            {"host": host, "pid": pid, "command": "run", "since": HOUR_AGO, "heartbeat": heartbeat, "token": token}
        )
    )
    staged.replace(path)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_held_lock_refuses_a_second_driver_and_a_stale_one_is_taken_over(tmp_path, capsys):
    holder = driver_lock(tmp_path, "run").acquire()
    record = json.loads((tmp_path / LOCK_FILE).read_text())
    assert (record["host"], record["pid"], record["command"]) == (socket.gethostname(), os.getpid(), "run")
    with pytest.raises(ExperimentLocked, match=f"host {socket.gethostname()} pid {os.getpid()} .*since "):
        driver_lock(tmp_path, "resume").acquire()
    holder.release()
    assert not (tmp_path / LOCK_FILE).exists()

    now = lock._iso(time.time())
    _record(tmp_path / LOCK_FILE, "other-host", 4242, now)  # alive, for all this host can tell
    with pytest.raises(ExperimentLocked, match="host other-host pid 4242"):
        driver_lock(tmp_path, "resume").acquire()
    stale = [
        ("other-host", 4242, HOUR_AGO, "its heartbeat is older than 120 s"),
        (socket.gethostname(), _dead_pid(), now, "its process is gone"),
    ]
    for host, pid, heartbeat, why in stale:
        _record(tmp_path / LOCK_FILE, host, pid, heartbeat)
        with driver_lock(tmp_path, "resume") as taker:
            assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == taker.token
        err = capsys.readouterr().err
        assert f"taking over the lock of {tmp_path} from host {host} pid {pid}" in err and why in err, err
        assert not (tmp_path / LOCK_FILE).exists()
    if not Path("/proc/self/stat").exists():  # where the system tells no process state or start time
        return
    # A driver killed but not yet reaped by its parent: a zombie drives nothing.
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.02)
    _record(tmp_path / LOCK_FILE, socket.gethostname(), zombie.pid, now)
    with driver_lock(tmp_path, "resume"):
        pass
    zombie.wait()
    assert "its process is gone" in capsys.readouterr().err and not (tmp_path / LOCK_FILE).exists()
    # The pid of a driver before a restart, running another process now (a container's pid 1 again).
    (tmp_path / LOCK_FILE).write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "start": "1",
                "heartbeat": now,
                "token": "before-restart",
            }
        )
    )
    with pytest.raises(RuntimeError, match="in the block"), driver_lock(tmp_path, "resume"):
        raise RuntimeError("in the block")  # an exception releases it too
    assert "its process is gone" in capsys.readouterr().err and not (tmp_path / LOCK_FILE).exists()


def test_a_uri_experiment_has_a_lease_with_the_same_rules(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(lock, "SETTLE_S", 0.0)
    location, lease = f"file://{tmp_path}/exp", tmp_path / "exp" / LOCK_FILE
    (tmp_path / "exp").mkdir()
    with driver_lock(location, "run"):
        assert json.loads(lease.read_text())["pid"] == os.getpid()
        with pytest.raises(ExperimentLocked, match=f"experiment {location} is being driven by host"):
            driver_lock(location, "resume").acquire()
    assert not lease.exists()
    _record(lease, "other-host", 4242, HOUR_AGO)
    with driver_lock(location, "resume") as taker:
        assert json.loads(lease.read_text())["token"] == taker.token
    assert "from host other-host pid 4242" in capsys.readouterr().err and not lease.exists()


def test_the_heartbeat_refreshes_the_lock_and_a_driver_that_lost_it_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "HEARTBEAT_S", 0.05)
    lost = []
    holder = lock.DriverLock(tmp_path, "run", on_lost=lost.append).acquire()
    try:
        path = tmp_path / LOCK_FILE
        _record(path, socket.gethostname(), os.getpid(), HOUR_AGO, token=holder.token)
        deadline = time.monotonic() + 30
        while json.loads(path.read_text())["heartbeat"] == HOUR_AGO and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lock.gone(json.loads(path.read_text())) is None, "the heartbeat was not refreshed"
        _record(path, "other-host", 4242, HOUR_AGO, token="taker")  # taken over while this driver was frozen
        while not lost and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lost and lost[0]["token"] == "taker"
    finally:
        holder.release()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == "taker", "the taker's lock was removed"


# ---- real drivers -------------------------------------------------------------------------------------------


def _start(*args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tuning", *args],
        cwd=ROOT,
        start_new_session=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait(proc: subprocess.Popen, ready, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"tuning exited early ({proc.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not ready in time:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _sweep(tiny_sweep: dict, tmp_path: Path, trials: Path | str = "", data: Path | str = "") -> Path:
    """The tiny sweep, 1 trial (what the lock guards is the driver's, not its trials'), whose trial waits at the gate
    `trials` and whose data preparation at `data`."""
    tiny_sweep["data"] = {"class_path": f"{__name__}.GatedDigits", "init_args": {"batch_size": 128, "gate": str(data)}}
    tiny_sweep["trainer"]["callbacks"] = [
        {"class_path": f"{__name__}.HoldAtEpochStart", "init_args": {"gate": str(trials)}}
    ]
    tiny_sweep["search"].update(num_samples=1, scheduler={"name": "fifo"})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    return path


def _trial_dirs(exp: Path) -> list[str]:
    return sorted(p.name for p in exp.glob("trial_*"))


def test_a_second_driver_is_refused_while_one_runs_and_a_killed_ones_lock_is_taken_over(
    ray_session, tmp_path, tiny_sweep, monkeypatch
):
    gate = tmp_path / "gate"
    sweep, exp, log = _sweep(tiny_sweep, tmp_path, trials=gate), tmp_path / "runs" / "held", tmp_path / "run.log"
    Path(f"{gate}.hold").touch()
    first = _start("run", str(sweep), "--storage", str(tmp_path / "runs"), "--name", "held", log=log)
    try:
        # The trial waits at its first epoch: the driver is inside Tune's fit, with a saved state to resume.
        _wait(
            first,
            lambda: (
                Path(f"{gate}.reached").exists()
                and len(_trial_dirs(exp)) == 1
                and list(exp.glob("experiment_state-*.json"))
            ),
            log,
        )
        trials, sweep_yaml = _trial_dirs(exp), (exp / "sweep.yaml").read_bytes()
        with monkeypatch.context() as tripwire:  # a command that is not refused would drive the sweep from here
            tripwire.setattr("tuning.driver.tuner.start_ray", lambda *a, **k: pytest.fail("a second driver started"))
            for args in (
                ["resume", str(exp)],
                ["resume", str(exp), "--more", "1"],
                ["run", str(sweep), "--storage", str(tmp_path / "runs"), "--name", "held", "--resume-existing"],
            ):
                refused = tuning_here(*args)
                assert refused.returncode == 2, refused.stderr[-2000:]
                assert (
                    f"is being driven by host {socket.gethostname()} pid {first.pid} (`tuning run`, since "
                    in refused.stderr
                ), refused.stderr
        assert _trial_dirs(exp) == trials and (exp / "sweep.yaml").read_bytes() == sweep_yaml
        assert first.poll() is None
    finally:
        kill_group(first)  # SIGKILL: its lock stays, naming a process that is gone
    assert json.loads((exp / LOCK_FILE).read_text())["pid"] == first.pid

    os.remove(f"{gate}.hold")
    resumed = tuning_here("resume", str(exp))  # on this process's Ray: a driver's start costs seconds
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"taking over the lock of {exp} from host {socket.gethostname()} pid {first.pid}" in resumed.stderr
    assert "its process is gone" in resumed.stderr
    assert not (exp / LOCK_FILE).exists(), "the lock outlived a normal end"
    assert _trial_dirs(exp) == trials
    runs = json.loads((exp / "environment.json").read_text())["runs"]
    assert [(r["command"], r["outcome"]) for r in runs] == [("run", None), ("resume", "finished")]


def _files(exp: Path) -> dict:
    return {p.relative_to(exp).as_posix(): p.read_bytes() for p in sorted(exp.rglob("*")) if p.is_file()}


def _num_samples(exp: Path) -> tuple[int, int]:
    """num_samples in sweep.yaml, and the total in Tune's saved search state (what a resume continues to)."""
    [state] = exp.glob("search_gen_state-*.json")
    return (
        yaml.safe_load((exp / "sweep.yaml").read_text())["search"]["num_samples"],
        pickle.loads(state.read_bytes())["total_samples"],
    )  # Tune writes it with cloudpickle, as plain data


@pytest.mark.integration
def test_a_more_that_fails_or_is_stopped_before_trials_start_leaves_num_samples(ray_session, tmp_path, tiny_sweep):
    from tuning.driver.tuner import run_sweep
    from tuning.sweep.config import parse_sweep

    gate = tmp_path / "gate"
    exp = run_sweep(
        parse_sweep(yaml.safe_load(_sweep(tiny_sweep, tmp_path, data=gate).read_text())),
        storage=str(tmp_path / "runs"),
        name="more",
    )
    assert _num_samples(exp) == (1, 1) and not (exp / LOCK_FILE).exists(), "the lock outlived a normal end"

    study = (exp / "optuna.db").read_bytes()
    (exp / "optuna.db").write_bytes(b"not a database " * 100)
    before = _files(exp)
    corrupt = tuning_here("resume", str(exp), "--more", "2")
    assert corrupt.returncode == 2 and f"study {exp / 'optuna.db'} is not readable" in corrupt.stderr, corrupt.stderr
    assert "Traceback" not in corrupt.stderr
    assert _files(exp) == before, "a refused resume changed the experiment"
    (exp / "optuna.db").write_bytes(study)

    # Stopped while the driver prepares the data, before any trial: after it took over a foreign, stale lock.
    _record(exp / LOCK_FILE, "other-host", 4242, HOUR_AGO)
    Path(f"{gate}.hold").touch()
    log = tmp_path / "more.log"
    more = _start("resume", str(exp), "--more", "2", log=log)
    try:
        _wait(more, Path(f"{gate}.reached").exists, log)
        os.kill(more.pid, signal.SIGTERM)
        assert more.wait(timeout=120) != 0, log.read_text()[-3000:]
    finally:
        kill_group(more) if more.poll() is None else None
    out = log.read_text()
    assert f"taking over the lock of {exp} from host other-host pid 4242" in out, out[-3000:]
    assert "extending the sweep" not in out
    assert _num_samples(exp) == (1, 1), "an interrupted --more raised num_samples"
    assert not (exp / LOCK_FILE).exists(), "the lock outlived SIGTERM"

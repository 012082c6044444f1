"""A real two-node Ray cluster on this machine loses its worker node mid-sweep; the sweep completes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.cluster.local_cluster import LocalCluster, with_suppress
from tuning.driver.resume import trial_states
from tuning.report.load import load_report, read_results

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cluster(tmp_path):
    """Head + worker, one CPU each; every process they started is stopped afterwards, nothing else."""
    local = LocalCluster(tmp_path / "cluster-logs")
    (tmp_path / "cluster-logs").mkdir()
    try:
        yield local.start()
    finally:
        local.stop()


def _kill_node(cluster: LocalCluster, index: int) -> list[psutil.Process]:
    """SIGKILL every process of one node's session: the node vanishes as a lost spot instance does."""
    session = cluster.procs[index].pid
    members = []
    for proc in psutil.process_iter():
        with_suppress(lambda: members.append(proc) if os.getsid(proc.pid) == session else None)
    for proc in members:
        with_suppress(proc.kill)
    psutil.wait_procs(members, timeout=30)
    return members


def _read_json(path: Path):
    """The file's JSON, or None while it is missing or being written (the sweep writes as the test reads)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _trial_on(exp_dir: Path, node_id: str) -> str | None:
    """A trial that has reported from `node_id` and is not finished yet."""
    running = {s["relative_logdir"] for s in trial_states(exp_dir) if s["status"] not in ("TERMINATED", "ERROR")}
    for info in exp_dir.glob("trial_*/trial.json"):
        if info.parent.name in running and (_read_json(info) or {}).get("node_id") == node_id:
            return info.parent.name
    return None


def test_a_sweep_survives_losing_its_worker_node(cluster, tmp_path, tiny_sweep):
    tiny_sweep["model"] = {"class_path": "tests.fault_models.Slow", "init_args": {"seconds": 1.0}}
    tiny_sweep["trainer"]["max_epochs"] = 5
    tiny_sweep["search"].update(
        num_samples=3, scheduler={"name": "fifo"}, space={"model.init_args.lr": {"loguniform": [1.0e-3, 3.0e-2]}}
    )
    tiny_sweep["run"].update(max_failures=2)
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(tiny_sweep))
    exp_dir, log = tmp_path / "runs" / "lost-node", tmp_path / "run.log"
    env = {**cluster.env, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuning",
            "run",
            str(tmp_path / "sweep.yaml"),
            "--storage",
            str(tmp_path / "runs"),
            "--name",
            "lost-node",
            "--address",
            f"127.0.0.1:{cluster.gcs_port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, victim = time.monotonic() + 300, None
        while victim is None:
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no trial ever reported from the worker node"
            nodes = ((_read_json(exp_dir / "environment.json") or {}).get("runs") or [{}])[0].get("nodes", [])
            worker = [n["node_id"] for n in nodes if not n["head"]]
            victim = _trial_on(exp_dir, worker[0]) if worker else None
            time.sleep(0.3)
        first_pid = json.loads((exp_dir / victim / "trial.json").read_text())["pid"]
        assert _kill_node(cluster, 1), "the worker node had no processes to kill"
        try:  # no check-then-use: the process may end between any two calls
            psutil.Process(first_pid).wait(timeout=60)
        except psutil.NoSuchProcess:
            pass
        assert not psutil.pid_exists(first_pid), "the trial's worker process outlived its node"
        assert run.wait(timeout=480) == 0, log.read_text()[-3000:]
    finally:
        with_suppress(lambda: os.killpg(run.pid, signal.SIGKILL)) if run.poll() is None else None

    head = [n["node_id"] for n in nodes if n["head"]][0]
    states = trial_states(exp_dir)
    assert len(states) == 3 and all(s["status"] == "TERMINATED" for s in states), log.read_text()[-3000:]
    report = load_report(str(exp_dir))
    assert all(t.iterations == 5 for t in report.trials)
    # The trial of the lost node was rescheduled on the head and ran to its last epoch.
    assert json.loads((exp_dir / victim / "trial.json").read_text())["node_id"] == head
    rows = read_results(exp_dir / victim / "result.json")
    before = [r["training_iteration"] for r in rows if r["pid"] == first_pid]
    after = [r["training_iteration"] for r in rows if r["pid"] != first_pid]
    assert before and after and after[-1] == 5
    assert after[0] > 1, "the retry started over instead of continuing from its checkpoint"

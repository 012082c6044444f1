"""A cluster sweep on URI storage (`file://`) survives losing its job driver: real two-node cluster, real SIGKILL.

The sweep's trials sleep a second per epoch (tests.user_callbacks.SlowEpochs, importable on both nodes through
the cluster's PYTHONPATH), so the driver is surely killed mid-sweep.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import psutil
import pytest
import yaml

from tests.cluster.local_cluster import BIN, LocalCluster
from tests.processes import kill_group
from tuning.driver.resume import trial_states
from tuning.report.load import read_results

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Each kill waits for one more finished trial than the last; Tune's state snapshot lags the trials by a few
# seconds, so a kill can find one or two more finished than it waited for. Seven samples and a first kill after one
# leave room for that lag in all three kills.
SAMPLES = 7
SWEEP = {
    "name": "uri-tiny",
    "model": {"class_path": "mlp", "init_args": {"hidden_dim": 16, "num_layers": 1}},
    "data": {"class_path": "digits", "init_args": {"batch_size": 256}},
    "trainer": {
        "max_epochs": 2,
        "accelerator": "cpu",
        "callbacks": [{"class_path": "tests.user_callbacks.SlowEpochs", "init_args": {"seconds": 1.0}}],
    },
    "search": {
        "metric": "val_loss",
        "mode": "min",
        "num_samples": SAMPLES,
        "space": {"model.init_args.lr": {"loguniform": [1.0e-3, 3.0e-2]}},
        "searcher": {"name": "optuna", "seed": 0},
        "scheduler": {"name": "fifo"},
    },
    "resources": {"cpu": 1, "max_concurrent": 2},
    "run": {"seed": 0, "max_failures": 1},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Head + worker, one CPU each, whose processes import this checkout's tests package."""
    local = LocalCluster(tmp_path_factory.mktemp("ray-cluster"))
    local.env["PYTHONPATH"] = str(ROOT)
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "sweep.yaml").write_text(yaml.safe_dump(SWEEP))
    return root


def tuning(args: list[str], cwd: Path, cluster: LocalCluster, timeout: float = 480) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=cluster.token, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [str(BIN / "tuning"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _submit(project: Path, cluster: LocalCluster, storage: str) -> str:
    submitted = tuning(["submit", "sweep.yaml", "--address", cluster.dashboard, "--storage", storage], project, cluster)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    return submitted.stdout.split("submitted job ")[1].split()[0]


def _driver(marker: str) -> psutil.Process | None:
    """The job's driver: the Python process running `tuning` whose command line holds `marker` (a job id, unique to
    this test; Ray starts the entrypoint in a session of its own, outside the cluster's)."""
    for proc in psutil.process_iter():
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if len(argv) > 1 and argv[1].endswith("/tuning") and any(marker in arg for arg in argv):
            return proc
    return None


def _finished(exp_dir: Path) -> dict:
    return {s["trial_id"]: _rows(exp_dir, s) for s in trial_states(exp_dir) if s["status"] == "TERMINATED"}


def _rows(exp_dir: Path, state: dict) -> list:
    rows = read_results(exp_dir / state["relative_logdir"] / "result.json")
    return [(r["training_iteration"], r["val_loss"]) for r in rows]


def _kill_after(
    marker: str, exp_dir: Path, count: int, before: dict | None = None, here=None, timeout: float = 400
) -> dict:
    """SIGKILL the driver whose command line holds `marker` once `count` trials finished; return the finished
    trials' results, checking that those of `before` did not change."""
    deadline = time.monotonic() + timeout
    while len(_finished(exp_dir)) < count:
        assert here is None or here.poll() is None, f"the driver here exited early ({here.returncode})"
        assert time.monotonic() < deadline, f"fewer than {count} trials finished in time: {trial_states(exp_dir)}"
        time.sleep(0.3)
    driver = psutil.Process(here.pid) if here is not None else _driver(marker)
    assert driver is not None, f"no driver process with {marker!r}"
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    finished = _finished(exp_dir)
    assert count <= len(finished) < SAMPLES, (
        f"the driver was not killed mid-sweep: {len(finished)} of {SAMPLES} trials finished, waiting for {count}"
    )
    assert {t: rows for t, rows in finished.items() if t in (before or {})} == (before or {}), (
        "a finished trial changed"
    )
    return finished


def _wait_status(project, cluster, job: str, status: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = tuning(["status", job, "--address", cluster.dashboard], project, cluster)
        if f"job {job}: {status}" in shown.stdout or time.monotonic() > deadline:
            return shown.stdout
        time.sleep(1)


def _check_complete(exp_dir: Path, finished: dict) -> None:
    """Exactly SAMPLES trials, each run to the end once; the finished ones unchanged; no config twice; the
    study in the experiment holds every trial once, all complete."""
    states = trial_states(exp_dir)
    assert len(states) == SAMPLES and all(s["status"] == "TERMINATED" for s in states), states
    for state in states:
        assert [i for i, _ in _rows(exp_dir, state)] == [1, 2], state["relative_logdir"]
        if state["trial_id"] in finished:
            assert _rows(exp_dir, state) == finished[state["trial_id"]], "a finished trial was run again"
    lrs = [s["params"]["model.init_args.lr"] for s in states]
    assert len(set(lrs)) == SAMPLES, "a config was suggested twice"
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp_dir / 'optuna.db'}")
    ids = {s["trial_id"] for s in states}
    # Only a trial that ended after the last snapshot of Tune's state reached the storage may be in the study
    # beyond the sweep's trials (README, "What a lost driver costs"): each of the sweep's trials is there once.
    complete = [
        t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs["tune_trial_id"] in ids
    ]
    assert sorted(t.user_attrs["tune_trial_id"] for t in complete) == sorted(ids)
    assert sorted(t.params["model.init_args.lr"] for t in complete) == sorted(lrs)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]


def _start_here(args: list[str], cwd: Path, cluster: LocalCluster, log: Path) -> subprocess.Popen:
    """`tuning ARGS` here, in its own process group, as a terminal would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=cluster.token, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [str(BIN / "tuning"), *args],
        cwd=cwd,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_uri_sweep_survives_three_lost_drivers(cluster, project, tmp_path):
    """Killed in turn: the job's driver, the driver of the job restarted with the same entrypoint, a resume's
    driver here (against the GCS); then `tuning resume --address http://...` finishes it as a job."""
    exp_dir, exp = tmp_path / "runs" / "uri-tiny", f"file://{tmp_path}/runs/uri-tiny"
    job = _submit(project, cluster, f"file://{tmp_path}/runs")
    finished = _kill_after(f".tuning-job-{job}.yaml", exp_dir, 1)
    status = _wait_status(project, cluster, job, "FAILED")
    assert f"experiment: {exp}" in status and f"tuning resume {exp} --address {cluster.dashboard}" in status, status
    report = tuning(["report", exp, "--format", "json"], project, cluster)
    assert report.returncode == 0 and len(json.loads(report.stdout)["trials"]) <= SAMPLES
    assert "has not ended" in report.stderr and f"continue with: tuning resume {exp}" in report.stderr

    # A crash in the middle of writing a result line leaves half a line: the resume cuts it on the storage.
    unfinished = next(
        (
            s
            for s in trial_states(exp_dir)
            if s["status"] != "TERMINATED"
            and s["relative_logdir"]
            and (exp_dir / s["relative_logdir"] / "result.json").is_file()
        ),
        None,
    )
    assert unfinished, f"no unfinished trial with results in the snapshot: {trial_states(exp_dir)}"
    with (exp_dir / unfinished["relative_logdir"] / "result.json").open("a") as fh:
        fh.write('{"val_loss": 0.')

    # What a RayJob that Kubernetes retries does: the same sweep, the same storage, the same entrypoint.
    restarted = _submit(project, cluster, f"file://{tmp_path}/runs")
    finished = _kill_after(f".tuning-job-{restarted}.yaml", exp_dir, len(finished) + 1, finished)
    logs = tuning(["logs", restarted, "--address", cluster.dashboard], project, cluster).stdout
    assert "continuing the existing experiment" in logs and "removed a half-written last line" in logs, logs[-3000:]
    assert "newest checkpoint still on disk" not in logs, "every checkpoint the snapshot names is there"

    # The resume's driver here, against the cluster's GCS, SIGKILLed with its process group.
    log = tmp_path / "here.log"
    here = _start_here(["resume", exp, "--address", f"127.0.0.1:{cluster.gcs_port}"], project, cluster, log)
    try:
        finished = _kill_after(f"127.0.0.1:{cluster.gcs_port}", exp_dir, len(finished) + 1, finished, here)
    finally:
        kill_group(here)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]

    listed = tuning(["jobs", "--address", cluster.dashboard], project, cluster)
    assert f"resume with: tuning resume {exp} --address {cluster.dashboard}" in listed.stdout, listed.stdout
    resumed = tuning(["resume", exp, "--address", cluster.dashboard, "--follow"], project, cluster)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-2000:]
    assert "SUCCEEDED" in resumed.stdout
    _check_complete(exp_dir, finished)
    runs = json.loads((exp_dir / "environment.json").read_text())["runs"]
    assert [r["command"] for r in runs] == ["run", "resume", "resume", "resume"], runs
    assert runs[-1]["outcome"] == "finished" and {len(r["nodes"]) for r in runs} == {2}
    again = tuning(["report", exp], project, cluster)
    assert again.returncode == 0 and "continue with" not in again.stderr, again.stderr

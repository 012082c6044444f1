"""`tuning submit` and friends against a real two-node Ray cluster on loopback, with token auth; and a sweep on
URI storage that survives losing its drivers, on the same cluster (one cluster for the whole file: starting one
costs more CPU than most of the tests).
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import optuna
import psutil
import pytest
import yaml

from tests.cluster import pip_project as pp
from tests.cluster import secret_project as sp
from tests.cluster.local_cluster import BIN, LocalCluster
from tests.processes import kill_group
from tests.synthetic_sweeps import branin_sweep
from tuning.driver.resume import trial_states
from tuning.report.load import read_results

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SWEEP = {
    "name": "cluster-tiny",
    # The user's own class, from the uploaded project: proves the working_dir travels to every node.
    "model": {"class_path": "my_models.LinearClassifier", "init_args": {"width": 64}},
    "data": {"class_path": "digits", "init_args": {"batch_size": 256}},
    "trainer": {"max_epochs": 1, "accelerator": "cpu"},
    "search": {
        "metric": "val_loss",
        "mode": "min",
        # Two trials, one CPU each, on two nodes of one CPU: both start at once, one on each node.
        "num_samples": 2,
        "space": {"model.init_args.lr": {"loguniform": [1.0e-3, 1.0e-1]}},
        "scheduler": {"name": "fifo"},
    },
    "resources": {"cpu": 1},
    "run": {"storage": "./runs"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Head + worker, one CPU each, the worker with one custom `tuning_probe`, whose processes import this
    checkout's tests package (the URI sweep's callback); stopped (only its own processes) after the module."""
    local = LocalCluster(tmp_path_factory.mktemp("ray-cluster"), worker_resources={"tuning_probe": 1})
    local.env["PYTHONPATH"] = str(ROOT)
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user's project: their model module, a sweep, a file of every secret kind and links out of it."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(HERE.parent / "user_models.py", root / "my_models.py")
    (root / "sweep.yaml").write_text(yaml.safe_dump(SWEEP))
    return sp.make_secret_project(root, tmp_path_factory.mktemp("outside"))


def job_state(dashboard: str, job: str, token: str | None) -> str:
    """The job's status from the Jobs REST API, in this process: a cheap poll (a `tuning status` is a Python
    process importing Ray); what the user sees is then checked with one `tuning status`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{dashboard}/api/jobs/{job}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["status"]


def tuning(args: list[str], cwd: Path, token: str | None, timeout: float = 480) -> subprocess.CompletedProcess:
    """The `tuning` CLI in a subprocess, with `token` as RAY_AUTH_TOKEN (None: no token anywhere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    if token is None:
        env["HOME"] = tempfile.mkdtemp(prefix="home-", dir=cwd.parent)  # hides ~/.ray/auth_token; under pytest's tmp
    else:
        env["RAY_AUTH_TOKEN"] = token
    return subprocess.run(
        [str(BIN / "tuning"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_a_wrong_or_missing_token_is_refused_clearly(cluster, project):
    wrong = tuning(
        ["submit", "sweep.yaml", "--address", cluster.dashboard, "--storage", str(project / "out")],
        project,
        token="not-the-token",
    )
    assert wrong.returncode == 2, wrong.stderr
    assert "refused the request (Authentication failed" in wrong.stderr
    assert "RAY_AUTH_TOKEN" in wrong.stderr and "Traceback" not in wrong.stderr
    missing = tuning(["jobs", "--address", cluster.dashboard], project, token=None)
    assert missing.returncode == 2, missing.stderr
    assert "Authentication required" in missing.stderr and "Traceback" not in missing.stderr
    assert not (project / "out").exists()


def test_a_sweep_that_cannot_run_is_refused_before_it_reaches_the_cluster(cluster, project):
    relative = tuning(["submit", "sweep.yaml", "--address", cluster.dashboard], project, cluster.token)
    assert relative.returncode == 2 and "run.storage './runs' is relative" in relative.stderr
    bad = tuning(
        [
            "submit",
            "sweep.yaml",
            "--address",
            cluster.dashboard,
            "--storage",
            str(project / "out"),
            "--set",
            "model.init_args.widht=3",
        ],
        project,
        cluster.token,
    )
    assert bad.returncode == 2 and "widht" in bad.stderr, bad.stderr
    listed = tuning(["jobs", "--address", cluster.dashboard], project, cluster.token)
    assert listed.returncode == 0 and "tuning-" not in listed.stdout.split("entrypoint", 1)[1]


def _dry_run(project: Path, storage: Path) -> set[str]:
    """The files `tuning submit --dry-run` lists for upload, with no address and no token anywhere."""
    listed = tuning(
        ["submit", "sweep.yaml", "--dry-run", "--storage", str(storage), "--include", ".env.example"],
        project,
        token=None,
    )
    assert listed.returncode == 0, listed.stderr
    return {line.split(None, 1)[1] for line in listed.stdout.splitlines() if line.startswith("upload  ")}


def _unpacked(cluster: LocalCluster, node: str, job: str) -> Path:
    """The job's working_dir as Ray unpacked it on `node` (under that node's --temp-dir)."""
    resources = cluster.temp / node / "session_latest" / "runtime_resources"
    found = [p.parent for p in resources.rglob(f".tuning-job-{job}.yaml")]
    assert len(found) == 1, f"{node}: {found}"
    return found[0]


def test_a_submitted_sweep_runs_on_both_nodes_and_reports_from_storage(cluster, project, tmp_path):
    storage = tmp_path / "shared"
    planned = _dry_run(project, storage)
    submitted = tuning(
        [
            "submit",
            "sweep.yaml",
            "--address",
            cluster.dashboard,
            "--storage",
            str(storage),
            "--include",
            ".env.example",
        ],
        project,
        cluster.token,
    )
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.split("submitted job ")[1].split()[0]
    assert f"{len(sp.SECRET_FILES) + 1} left out as likely secrets, 3 symlink(s) not followed" in submitted.stdout
    assert not list(project.glob(".tuning-job-*")), "the staged sweep file is removed after the upload"
    assert "warning" not in submitted.stderr  # a token, over loopback

    followed = tuning(["logs", job, "--follow", "--address", cluster.dashboard], project, cluster.token)
    assert followed.returncode == 0, followed.stdout[-3000:] + followed.stderr[-2000:]
    assert "reachable from all 2 nodes" in followed.stdout
    assert f"job {job}: SUCCEEDED" in followed.stdout

    exp = storage / "cluster-tiny"
    status = tuning(["status", job, "--address", cluster.dashboard], project, cluster.token)
    assert status.returncode == 0 and f"job {job}: SUCCEEDED" in status.stdout, status.stdout + status.stderr
    assert f"experiment: {exp}" in status.stdout and "continue with" not in status.stdout, status.stdout
    listed = tuning(["jobs", "--address", cluster.dashboard], project, cluster.token)
    assert any(job in line and str(exp) in line for line in listed.stdout.splitlines()), listed.stdout
    nodes = {json.loads(p.read_text())["node_id"] for p in exp.glob("trial_*/trial.json")}
    assert len(list(exp.glob("trial_*/trial.json"))) == 2
    assert len(nodes) == 2, "trials ran on both nodes, and each node's trial files reached the storage"
    report = tuning(["report", str(exp), "--format", "json"], project, cluster.token)
    assert report.returncode == 0, report.stderr
    trials = json.loads(report.stdout)["trials"]
    assert [t["status"] for t in trials] == ["completed"] * 2

    # What Ray unpacked on each node: the code and the re-included file, no secret, nothing from outside.
    expected = {f".tuning-job-{job}.yaml" if rel.startswith(".tuning-job-") else rel for rel in planned}
    for node in ("head", "worker"):
        package = _unpacked(cluster, node, job)
        files = {
            p.relative_to(package).as_posix()
            for p in package.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert files == expected, (node, files ^ expected)
        assert {*sp.CODE_FILES, ".env.example"} <= files and not files & set(sp.SECRET_FILES)
        assert not any(
            sp.SECRET_TEXT in p.read_text(errors="replace")
            for p in package.rglob("*")
            if p.is_file() and p.name != ".env.example"
        ), node

    stopped = tuning(["stop", job, "--address", cluster.dashboard], project, cluster.token)
    assert stopped.returncode == 0 and "already finished" in stopped.stdout

    # The same id again: Ray's Jobs API answers HTTP 500 (with its traceback); the user gets one line.
    again = tuning(
        ["submit", "sweep.yaml", "--address", cluster.dashboard, "--storage", str(storage), "--job-id", job],
        project,
        cluster.token,
    )
    assert again.returncode == 1, again.stdout + again.stderr
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    assert "failed the request (HTTP 500)" in again.stderr and "already exists" in again.stderr


def test_pip_and_requirements_reach_the_job_and_its_trials_get_their_memory_and_custom_resource(cluster, tmp_path):
    """`submit --pip WHEEL --requirements FILE --follow`: the job's driver and trials import both packages (not
    installed here), and Ray placed each trial with its bundle {CPU, memory, tuning_probe}, so on the one node
    that has `tuning_probe`, though the other had a CPU free; --follow waits for the job and says how it ended, and
    `logs` without it prints the finished job's log."""
    assert not {importlib.util.find_spec(p) for p in (pp.PIP_PACKAGE, pp.REQUIREMENTS_PACKAGE)} - {None}
    project, wheels, log = tmp_path / "project", tmp_path / "wheels", tmp_path / "placement.jsonl"
    project.mkdir()
    wheels.mkdir()
    pip_wheel, requirements = pp.make_pip_project(project, wheels, HERE.parent / "user_models.py")
    sweep = {
        **SWEEP,
        "name": "cluster-pip",
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "model": {"class_path": "probe_models.ProbeClassifier", "init_args": {"width": 64, "log": str(log)}},
        "search": {**SWEEP["search"], "num_samples": 2},
        "resources": {"cpu": 1, "memory": 0.25, "custom": {"tuning_probe": 1}},
    }
    (project / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    storage = tmp_path / "shared"
    submitted = tuning(
        [
            "submit",
            "sweep.yaml",
            "--address",
            cluster.dashboard,
            "--storage",
            str(storage),
            "--pip",
            str(pip_wheel),
            "--requirements",
            requirements.name,
            "--follow",
        ],
        project,
        cluster.token,
    )
    job = submitted.stdout.split("submitted job ")[1].split()[0]
    assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-2000:]
    assert submitted.stdout.rstrip().endswith(f"job {job}: SUCCEEDED")
    logs = tuning(["logs", job, "--address", cluster.dashboard], project, cluster.token)  # no --follow: what it has
    assert logs.returncode == 0 and f"experiment: {storage / 'cluster-pip'}" in logs.stdout, logs.stderr

    report = tuning(["report", str(storage / "cluster-pip"), "--format", "json"], project, cluster.token)
    trials = json.loads(report.stdout)["trials"]
    assert [t["status"] for t in trials] == ["completed"] * 2, report.stderr
    assert [t["metrics"]["probe"] for t in trials] == [pp.PIP_VALUE + pp.REQUIREMENTS_VALUE] * 2
    placed = [json.loads(line) for line in log.read_text().splitlines()]
    (probe_node,) = placed[0]["probe_nodes"]
    assert [p["bundles"] for p in placed] == [[{"CPU": 1.0, "memory": 0.25 * 2**30, "tuning_probe": 1.0}]] * 2
    assert {p["node"] for p in placed} == {t["node_id"] for t in _trial_files(storage / "cluster-pip")} == {probe_node}


def _trial_files(exp: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in exp.glob("trial_*/trial.json")]


def test_an_unknown_job_is_a_clear_error(cluster, project):
    result = tuning(["status", "no-such-job", "--address", cluster.dashboard], project, cluster.token)
    assert result.returncode == 2, result.stderr
    assert "no-such-job" in result.stderr and "Traceback" not in result.stderr


def test_the_python_api_submits_waits_and_reports_a_job(cluster, tmp_path, monkeypatch):
    """tuning.submit in this process: a synthetic sweep as a job; the Job waits for it, says its status and logs,
    and its experiment (on storage this machine shares) ranks the trials."""
    import tuning

    monkeypatch.setenv("RAY_AUTH_TOKEN", cluster.token)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    sweep = branin_sweep({"name": "optuna"}, {"name": "fifo"}, 3, iterations=2, max_concurrent=None, name="api-job")
    (project / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    job = tuning.submit(
        str(project / "sweep.yaml"), address=cluster.dashboard, storage=tmp_path / "shared", working_dir=project
    )
    assert job.wait(timeout=300) == "SUCCEEDED" == job.status(), job.logs()[-3000:]
    assert f"experiment: {tmp_path / 'shared' / 'api-job'}" in job.logs()
    report = job.experiment().report()
    assert [t.rank for t in report.trials] == [1, 2, 3] and {t.status for t in report.trials} == {"completed"}
    assert report.to_pandas()["metric"].is_monotonic_increasing
    assert job.stop() is False  # it had already ended


@pytest.mark.integration  # a cluster of its own
def test_a_cluster_without_authentication_is_named_as_such(tmp_path):
    """The one extra cluster of this suite: a head alone, token auth off. Its job is stopped while it runs: a
    synthetic sweep whose trials need a resource no node has, so its driver waits for them (as for an autoscaler)
    until it is stopped, and nothing trains meanwhile."""
    head = LocalCluster(tmp_path / "open", auth=False)
    (tmp_path / "open").mkdir()
    project = tmp_path / "project"
    project.mkdir()
    waits = branin_sweep({"name": "random"}, {"name": "fifo"}, 2, iterations=2, max_concurrent=None, name="waits")
    waits["resources"] = {"cpu": 1, "custom": {"no_node_has_this": 1}}
    (project / "sweep.yaml").write_text(yaml.safe_dump(waits))
    exp = tmp_path / "runs" / "waits"
    try:
        head.start(worker=False)
        # Straight after the head comes up, the Jobs API may answer before its agent: that is retried.
        submitted = tuning(
            ["submit", "sweep.yaml", "--address", head.dashboard, "--storage", str(tmp_path / "runs")],
            project,
            token=None,
        )
        assert submitted.returncode == 0, submitted.stderr
        assert "accepted this job without a token: it has no authentication" in submitted.stderr
        job = submitted.stdout.split("submitted job ")[1].split()[0]
        # Stopped once its sweep has started (its trials cannot start): the job cannot have ended by itself.
        _wait_for_sweep(job, head, project, exp / "sweep.yaml")
        assert job_state(head.dashboard, job, None) == "RUNNING"
        stopped = tuning(["stop", job, "--address", head.dashboard], project, token=None)
        assert stopped.returncode == 0 and f"job {job}: stop requested" in stopped.stdout, stopped.stderr
        # The running job ends STOPPED (not SUCCEEDED), and its status says how to continue it.
        status = _status_once_ended(job, head, project)
        resume = f"continue with: tuning resume {exp} --address {head.dashboard}"
        assert status.startswith(f"job {job}: STOPPED") and resume in status, status
    finally:
        head.stop()


RUNNING = ("PENDING", "RUNNING")


def _wait_for_sweep(job: str, cluster: LocalCluster, project: Path, started: Path, timeout: float = 180) -> None:
    """Wait until the job's driver has written `started` (polled once a second, bounded); fail if the job ends first."""
    deadline = time.monotonic() + timeout
    while not started.exists():
        state = job_state(cluster.dashboard, job, cluster.token)
        if state not in RUNNING:
            status = tuning(["status", job, "--address", cluster.dashboard], project, cluster.token)
            raise AssertionError(f"job {job} ended ({state}) before its sweep started: {status.stdout}")
        assert time.monotonic() < deadline, f"job {job} did not start its sweep in {timeout:g} s: no {started}"
        time.sleep(1)


def _status_once_ended(job: str, cluster: LocalCluster, project: Path, timeout: float = 60) -> str:
    """`tuning status` of the job once it is no longer pending or running (polled once a second, bounded)."""
    deadline = time.monotonic() + timeout
    while job_state(cluster.dashboard, job, cluster.token) in RUNNING and time.monotonic() < deadline:
        time.sleep(1)
    return tuning(["status", job, "--address", cluster.dashboard], project, cluster.token).stdout


# A cluster sweep on URI storage (`file://`) survives losing its job driver: real SIGKILLs. Its trials sleep a
# second per epoch (tests.user_callbacks.SlowEpochs, importable on both nodes through the cluster's PYTHONPATH), so
# each driver is surely killed mid-sweep. Each kill waits for one more finished trial than the last; Tune's state
# snapshot lags the trials by a few seconds, so a kill can find one or two more finished than it waited for. Seven
# samples and a first kill after one leave room for that lag in all three kills.
SAMPLES = 7
URI_SWEEP = {
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


def _uri_env(cluster: LocalCluster) -> dict:
    """The environment of a `tuning` process here for the URI sweep: the cluster's token, this checkout's tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=cluster.token, PYTHONPATH=str(ROOT))
    return env


def _uri_tuning(args: list[str], cwd: Path, cluster: LocalCluster, timeout: float = 480) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "tuning"), *args], cwd=cwd, env=_uri_env(cluster), capture_output=True, text=True, timeout=timeout
    )


def _submit(project: Path, cluster: LocalCluster, storage: str) -> str:
    submitted = _uri_tuning(
        ["submit", "sweep.yaml", "--address", cluster.dashboard, "--storage", storage], project, cluster
    )
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
    """`tuning status` of the job once the Jobs API says `status` (polled there once a second, bounded)."""
    deadline = time.monotonic() + timeout
    while job_state(cluster.dashboard, job, cluster.token) != status and time.monotonic() < deadline:
        time.sleep(1)
    return _uri_tuning(["status", job, "--address", cluster.dashboard], project, cluster).stdout


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
    return subprocess.Popen(
        [str(BIN / "tuning"), *args],
        cwd=cwd,
        env=_uri_env(cluster),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.integration
def test_a_uri_sweep_survives_three_lost_drivers(cluster, tmp_path):
    """Killed in turn: the job's driver, the driver of the job restarted with the same entrypoint, a resume's
    driver here (against the GCS); then `tuning resume --address http://...` finishes it as a job. Last in the
    file: it leaves jobs on the cluster that an earlier test must not find there."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "sweep.yaml").write_text(yaml.safe_dump(URI_SWEEP))
    exp_dir, exp = tmp_path / "runs" / "uri-tiny", f"file://{tmp_path}/runs/uri-tiny"
    job = _submit(project, cluster, f"file://{tmp_path}/runs")
    finished = _kill_after(f".tuning-job-{job}.yaml", exp_dir, 1)
    status = _wait_status(project, cluster, job, "FAILED")
    assert f"experiment: {exp}" in status and f"tuning resume {exp} --address {cluster.dashboard}" in status, status
    report = _uri_tuning(["report", exp, "--format", "json"], project, cluster)
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
    logs = _uri_tuning(["logs", restarted, "--address", cluster.dashboard], project, cluster).stdout
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

    listed = _uri_tuning(["jobs", "--address", cluster.dashboard], project, cluster)
    assert f"resume with: tuning resume {exp} --address {cluster.dashboard}" in listed.stdout, listed.stdout
    resumed = _uri_tuning(["resume", exp, "--address", cluster.dashboard, "--follow"], project, cluster)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-2000:]
    assert "SUCCEEDED" in resumed.stdout
    _check_complete(exp_dir, finished)
    runs = json.loads((exp_dir / "environment.json").read_text())["runs"]
    assert [r["command"] for r in runs] == ["run", "resume", "resume", "resume"], runs
    assert runs[-1]["outcome"] == "finished" and {len(r["nodes"]) for r in runs} == {2}
    again = _uri_tuning(["report", exp], project, cluster)
    assert again.returncode == 0 and "continue with" not in again.stderr, again.stderr

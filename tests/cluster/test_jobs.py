"""`tuning submit` and friends against a real two-node Ray cluster on loopback, with token auth."""

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.cluster import pip_project as pp
from tests.cluster import secret_project as sp
from tests.cluster.local_cluster import BIN, LocalCluster
from tests.synthetic_sweeps import branin_sweep

HERE = Path(__file__).parent
SWEEP = {
    "name": "cluster-tiny",
    # The user's own class, from the uploaded project: proves the working_dir travels to every node.
    "model": {"class_path": "my_models.LinearClassifier", "init_args": {"width": 64}},
    "data": {"class_path": "digits", "init_args": {"batch_size": 256}},
    "trainer": {"max_epochs": 2, "accelerator": "cpu"},
    "search": {
        "metric": "val_loss",
        "mode": "min",
        "num_samples": 4,
        "space": {"model.init_args.lr": {"loguniform": [1.0e-3, 1.0e-1]}},
        "scheduler": {"name": "fifo"},
    },
    "resources": {"cpu": 1},
    "run": {"storage": "./runs"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Head + worker, one CPU each, the worker with one custom `tuning_probe`; stopped (only its own processes)
    after the module."""
    local = LocalCluster(tmp_path_factory.mktemp("ray-cluster"), worker_resources={"tuning_probe": 1})
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
    assert f"experiment: {exp}" in status.stdout and "continue with" not in status.stdout, status.stdout
    listed = tuning(["jobs", "--address", cluster.dashboard], project, cluster.token)
    assert any(job in line and str(exp) in line for line in listed.stdout.splitlines()), listed.stdout
    nodes = {json.loads(p.read_text())["node_id"] for p in exp.glob("trial_*/trial.json")}
    assert len(list(exp.glob("trial_*/trial.json"))) == 4
    assert len(nodes) == 2, "trials ran on both nodes, and each node's trial files reached the storage"
    report = tuning(["report", str(exp), "--format", "json"], project, cluster.token)
    assert report.returncode == 0, report.stderr
    trials = json.loads(report.stdout)["trials"]
    assert [t["status"] for t in trials] == ["completed"] * 4

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

    status = tuning(["status", job, "--address", cluster.dashboard], project, cluster.token)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout
    listed = tuning(["jobs", "--address", cluster.dashboard], project, cluster.token)
    assert job in listed.stdout
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


# A user's model whose second epoch never ends in a test's time (the first is quick: the driver's metric check runs
# its batches): its sweep is surely still running when the job is stopped.
STALLS = """\
import time

from my_models import LinearClassifier


class Stalls(LinearClassifier):
    def on_train_epoch_start(self):
        if self.current_epoch >= 1:
            time.sleep(600)
"""


@pytest.mark.integration  # a cluster of its own
def test_a_cluster_without_authentication_is_named_as_such(tmp_path):
    """The one extra cluster of this suite: a head alone, token auth off. Its job is stopped while it runs."""
    head = LocalCluster(tmp_path / "open", auth=False)
    (tmp_path / "open").mkdir()
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(HERE.parent / "user_models.py", project / "my_models.py")
    (project / "stalls.py").write_text(STALLS)
    (project / "sweep.yaml").write_text(
        yaml.safe_dump({**SWEEP, "model": {"class_path": "stalls.Stalls", "init_args": {"width": 64}}})
    )
    exp = tmp_path / "runs" / SWEEP["name"]
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
        # Stopped once its sweep has started (its trials never finish): the job cannot have ended by itself.
        _wait_for_sweep(job, head, project, exp / "sweep.yaml")
        stopped = tuning(["stop", job, "--address", head.dashboard], project, token=None)
        assert stopped.returncode == 0 and f"job {job}: stop requested" in stopped.stdout, stopped.stderr
        # The running job ends STOPPED (not SUCCEEDED), and its status says how to continue it.
        status = _status_once_ended(job, head, project)
        resume = f"continue with: tuning resume {exp} --address {head.dashboard}"
        assert status.startswith(f"job {job}: STOPPED") and resume in status, status
    finally:
        head.stop()


def _wait_for_sweep(job: str, cluster: LocalCluster, project: Path, started: Path, tries: int = 180) -> None:
    """Wait until the job's driver has written `started` (polled once a second, bounded); fail if the job ends first."""
    import time

    for _ in range(tries):
        if started.exists():
            return
        status = tuning(["status", job, "--address", cluster.dashboard], project, cluster.token).stdout
        assert any(f": {state}" in status for state in ("PENDING", "RUNNING")), status
        time.sleep(1)
    raise AssertionError(f"job {job} did not start its sweep in {tries} s: {started} is not there")


def _status_once_ended(job: str, cluster: LocalCluster, project: Path, tries: int = 60) -> str:
    """`tuning status` of the job once it is no longer pending or running (polled once a second, bounded)."""
    import time

    for _ in range(tries):
        status = tuning(["status", job, "--address", cluster.dashboard], project, cluster.token).stdout
        if not any(f": {state}" in status for state in ("PENDING", "RUNNING")):
            return status
        time.sleep(1)
    return status

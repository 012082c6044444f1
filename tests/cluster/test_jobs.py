"""`tuning submit` and friends against a real two-node Ray cluster on loopback, with token auth."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cluster.local_cluster import BIN, LocalCluster

HERE = Path(__file__).parent
SWEEP = {
    "name": "cluster-tiny",
    # The user's own class, from the uploaded project: proves the working_dir travels to every node.
    "model": {"class_path": "my_models.LinearClassifier", "init_args": {"width": 64}},
    "data": {"class_path": "digits", "init_args": {"batch_size": 256}},
    "trainer": {"max_epochs": 2, "accelerator": "cpu"},
    "search": {"metric": "val_loss", "mode": "min", "num_samples": 4,
               "space": {"model.init_args.lr": {"loguniform": [1.0e-3, 1.0e-1]}},
               "scheduler": {"name": "fifo"}},
    "resources": {"cpu": 1},
    "run": {"storage": "./runs"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Head + worker, one CPU each; stopped (only its own processes) after the module."""
    local = LocalCluster(tmp_path_factory.mktemp("ray-cluster"))
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user's project: their model module, a sweep, and things that must not be uploaded."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(HERE.parent / "user_models.py", root / "my_models.py")
    (root / "sweep.yaml").write_text(yaml.safe_dump(SWEEP))
    (root / ".env").write_text("SECRET=1\n")
    return root


def tuning(args: list[str], cwd: Path, token: str | None, timeout: float = 480) -> subprocess.CompletedProcess:
    """The `tuning` CLI in a subprocess, with `token` as RAY_AUTH_TOKEN (None: no token anywhere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    if token is None:
        env["HOME"] = str(cwd)  # hides ~/.ray/auth_token
    else:
        env["RAY_AUTH_TOKEN"] = token
    return subprocess.run([str(BIN / "tuning"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_wrong_or_missing_token_is_refused_clearly(cluster, project):
    wrong = tuning(["submit", "sweep.yaml", "--address", cluster.dashboard, "--storage", str(project / "out")],
                   project, token="not-the-token")
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
    bad = tuning(["submit", "sweep.yaml", "--address", cluster.dashboard, "--storage", "/tmp/x",
                  "--set", "model.init_args.widht=3"], project, cluster.token)
    assert bad.returncode == 2 and "widht" in bad.stderr, bad.stderr
    listed = tuning(["jobs", "--address", cluster.dashboard], project, cluster.token)
    assert listed.returncode == 0 and "tuning-" not in listed.stdout.split("entrypoint", 1)[1]


def test_a_submitted_sweep_runs_on_both_nodes_and_reports_from_storage(cluster, project, tmp_path):
    storage = tmp_path / "shared"
    submitted = tuning(["submit", "sweep.yaml", "--address", cluster.dashboard, "--storage", str(storage)],
                       project, cluster.token)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.split("submitted job ")[1].split()[0]
    assert not list(project.glob(".tuning-job-*")), "the staged sweep file is removed after the upload"

    followed = tuning(["logs", job, "--follow", "--address", cluster.dashboard], project, cluster.token)
    assert followed.returncode == 0, followed.stdout[-3000:] + followed.stderr[-2000:]
    assert "reachable from all 2 nodes" in followed.stdout
    assert f"job {job}: SUCCEEDED" in followed.stdout

    exp = storage / "cluster-tiny"
    nodes = {json.loads(p.read_text())["node_id"] for p in exp.glob("trial_*/trial.json")}
    assert len(list(exp.glob("trial_*/trial.json"))) == 4
    assert len(nodes) == 2, "trials ran on both nodes, and each node's trial files reached the storage"
    report = tuning(["report", str(exp), "--format", "json"], project, cluster.token)
    assert report.returncode == 0, report.stderr
    trials = json.loads(report.stdout)["trials"]
    assert [t["status"] for t in trials] == ["completed"] * 4

    status = tuning(["status", job, "--address", cluster.dashboard], project, cluster.token)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout
    listed = tuning(["jobs", "--address", cluster.dashboard], project, cluster.token)
    assert job in listed.stdout
    stopped = tuning(["stop", job, "--address", cluster.dashboard], project, cluster.token)
    assert stopped.returncode == 0 and "already finished" in stopped.stdout


def test_an_unknown_job_is_a_clear_error(cluster, project):
    result = tuning(["status", "no-such-job", "--address", cluster.dashboard], project, cluster.token)
    assert result.returncode == 2, result.stderr
    assert "no-such-job" in result.stderr and "Traceback" not in result.stderr

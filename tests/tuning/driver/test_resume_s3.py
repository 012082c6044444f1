"""A sweep on `s3://` storage, its driver SIGKILLed, resumed from the bucket: against a real S3-compatible server
(moto's, from PyPI) started on 127.0.0.1 by the test. Synthetic trials keep it short; the two-node cluster
version on `file://` storage is tests/cluster/test_jobs.py (test_a_uri_sweep_survives_three_lost_drivers)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.cluster.local_cluster import free_port
from tests.processes import kill_group
from tuning.expdir import ExpDir, tune_states

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
SAMPLES = 30


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 with a bucket; yields the environment that points pyarrow and Ray at it."""
    pytest.importorskip("moto")
    port = free_port()
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        # The drivers' live copies of the study: under pytest's tmp, not <temp>/tuning-studies/<hash of the
        # URI>, the same path for every run of this test on the machine.
        TUNING_STUDY_DIR=str(tmp_path_factory.mktemp("studies")),
    )
    try:
        from pyarrow import fs

        deadline = time.monotonic() + 60
        while True:
            try:
                fs.S3FileSystem(
                    endpoint_override=f"http://127.0.0.1:{port}",
                    access_key="testing",
                    secret_key="testing",
                    region="us-east-1",
                    allow_bucket_creation=True,
                ).create_dir("sweeps")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.5)
        yield env
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def _states(exp: str, env: dict) -> list[dict]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return tune_states(ExpDir(exp), warn=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a_killed_s3_sweep_resumes_from_the_bucket(s3, tmp_path):
    exp, log = "s3://sweeps/runs/s", tmp_path / "run.log"
    args = [
        "run",
        "synthetic",
        "--set",
        f"search.num_samples={SAMPLES}",
        "--set",
        "search.scheduler={name: fifo}",
        "--storage",
        "s3://sweeps/runs",
        "--name",
        "s",
    ]
    run = subprocess.Popen(
        [sys.executable, "-m", "tuning", *args],
        cwd=ROOT,
        env=s3,
        start_new_session=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        # Killed once 5 trials ended (the progress line is printed at once) and a snapshot reached the bucket.
        deadline = time.monotonic() + 300
        while f"[5/{SAMPLES}]" not in log.read_text() or not _states(exp, s3):
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        kill_group(run)
    before = {s["trial_id"] for s in _states(exp, s3) if s["status"] == "TERMINATED"}
    assert len(before) < SAMPLES, "the driver was killed mid-sweep"

    done = subprocess.run(
        [sys.executable, "-m", "tuning", "resume", exp], cwd=ROOT, env=s3, timeout=400, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    states = _states(exp, s3)
    assert len(states) == SAMPLES and all(s["status"] == "TERMINATED" for s in states)
    assert before <= {s["trial_id"] for s in states}
    assert len({json.dumps(s["config"], sort_keys=True) for s in states}) == SAMPLES, "a config was suggested twice"
    study_file = tmp_path / "optuna.db"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tuning.storage import download_file; "
            f"sys.exit(0 if download_file('{exp}/optuna.db', __import__('pathlib').Path('{study_file}')) "
            "else 1)",
        ],
        env=s3,
        check=True,
        cwd=ROOT,
    )
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{study_file}")
    told = [
        t.user_attrs["tune_trial_id"]
        for t in study.trials
        if t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL
    ]
    ids = {s["trial_id"] for s in states}
    assert sorted(t for t in told if t in ids) == sorted(ids), "the study holds every trial of the sweep once"
    # A trial that ended after the last snapshot of Tune's state reached the bucket stays in the study as it ended
    # (a real result); its Tune record is lost with the driver and another trial runs in its place.
    assert len(set(told)) == len(told)
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]

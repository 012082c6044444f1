"""track.mlflow (tuning/driver/tracking.py) against a real `mlflow server` on 127.0.0.1 with a SQLite store and its own
artifact root, read back with MLflow's own client: the run tree, params, per-epoch metric history, statuses, rank
tags, the parent's artifacts, and a resume that adds exactly one child. Then MLflow's default local store chosen by
MLFLOW_TRACKING_URI, and the errors a sweep gets before anything starts."""

import copy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cluster.local_cluster import free_port
from tests.conftest import TINY_SWEEP
from tests.synthetic_sweeps import branin_sweep
from tuning.errors import UserError
from tuning.sweep.config import parse_sweep


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`mlflow server` on a free port of 127.0.0.1, SQLite store and artifact root in tmp; stopped at the end.
    Yields (its URI, a function that waits until it answers): it starts while the session's Ray does."""
    root, port = tmp_path_factory.mktemp("mlflow-server"), free_port()
    log = root / "server.log"
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # its job runner: seconds, unused here
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", "1", "--backend-store-uri", f"sqlite:///{root}/mlflow.db"]
        + ["--artifacts-destination", str(root / "artifacts")],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    uri = f"http://127.0.0.1:{port}"

    def ready():
        deadline = time.monotonic() + 120
        while True:
            try:
                return urllib.request.urlopen(f"{uri}/health", timeout=2).close()
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)

    try:
        yield uri, ready
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _tree(uri: str, exp_dir: Path) -> dict:
    """What MLflow holds of the sweep, read with its own client: the parent and each child (by trial id)."""
    from mlflow import MlflowClient

    record = json.loads((exp_dir / "mlflow.json").read_text())
    client = MlflowClient(uri)
    runs = client.search_runs([record["experiment_id"]], max_results=1000)
    children = {}
    for run in runs:
        if run.data.tags.get("mlflow.parentRunId") == record["run_id"]:
            history = {
                name: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, name)]
                for name in run.data.metrics
            }
            children[run.data.tags["tuning.trial_id"]] = {"run": run, "history": history}
    parent = client.get_run(record["run_id"])
    artifacts = [a.path for a in client.list_artifacts(parent.info.run_id)]
    artifacts += [a.path for a in client.list_artifacts(parent.info.run_id, "best_checkpoint")]
    return {"record": record, "runs": runs, "children": children, "parent": parent, "artifacts": artifacts}


@pytest.fixture(scope="module")
def tracked(server, ray_session, tmp_path_factory):
    """The tiny sweep (3 trials, 2 epochs) tracked on the server, then resumed with --more 1: both as MLflow saw
    them, with the report of each."""
    from tuning.driver.tuner import resume_sweep, run_sweep
    from tuning.report import load_report

    uri, ready = server
    ready()
    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["search"]["num_samples"] = 3
    sweep["resources"]["max_concurrent"] = 1  # one reused trial actor: one worker imports Lightning, not two
    sweep["track"] = {"mlflow": {"tracking_uri": uri, "experiment": "tiny-tracked"}}
    saved = dict(os.environ)  # the driver sets MLFLOW_*, RAY_* and TUNE_* variables: later tests see none of them
    try:
        exp_dir = run_sweep(parse_sweep(sweep), storage=str(tmp_path_factory.mktemp("runs")), name="tracked")
        first = {**_tree(uri, exp_dir), "report": load_report(str(exp_dir)), "exp_dir": exp_dir}
        resume_sweep(str(exp_dir), more=1)
        return first, {**_tree(uri, exp_dir), "report": load_report(str(exp_dir))}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_one_parent_and_one_nested_child_per_trial(tracked):
    first, _ = tracked
    report, parent = first["report"], first["parent"]
    assert len(first["runs"]) == 4, [r.info.run_name for r in first["runs"]]  # the parent and 3 children
    assert set(first["children"]) == {t.trial_id for t in report.trials}
    assert parent.info.run_name == "tracked" and "mlflow.parentRunId" not in parent.data.tags
    assert parent.info.status == "FINISHED"


def test_children_carry_config_metrics_status_and_rank(tracked):
    first, _ = tracked
    for trial in first["report"].trials:
        child = first["children"][trial.trial_id]
        run, history = child["run"], child["history"]
        assert run.info.run_name == trial.trial_id
        # the config as params, with the sweep's dotted keys; MLflow keeps text
        assert run.data.params == {k: str(v) for k, v in trial.config.items()}
        assert set(run.data.params) == {"model.init_args.lr", "model.init_args.hidden_dim"}
        # one value per epoch the trial ran, step = epoch, as the report read them from the trial's files
        rows = [r for r in first["report"].results if r["trial_id"] == trial.trial_id]
        assert [s for s, _ in history["val_loss"]] == list(range(1, trial.iterations + 1))
        assert [v for _, v in history["val_loss"]] == pytest.approx([r["val_loss"] for r in rows])
        assert {"val_acc", "train_loss"} <= set(history)  # every metric the trial reports
        assert run.data.tags["tuning.rank"] == str(trial.rank)
        assert run.data.tags["tuning.status"] == trial.status
        assert run.info.status == "FINISHED"  # completed and stopped_early alike (the tag tells them apart)


def test_the_parent_carries_the_report_and_the_best_checkpoint(tracked):
    first, _ = tracked
    best, parent = first["report"].trials[0], first["parent"]
    assert {"report.html", "sweep.yaml", "best_checkpoint/checkpoint.ckpt", "best_checkpoint/config.yaml"} <= set(
        first["artifacts"]
    )
    assert parent.data.tags["tuning.best_trial_id"] == best.trial_id
    assert parent.data.metrics["best_val_loss"] == pytest.approx(best.metric)
    assert parent.data.params["search.metric"] == "val_loss"  # the resolved sweep, flattened


def test_the_pickled_callback_holds_ids_not_a_client(tracked):
    """Tune pickles its callbacks with the experiment: ours is listed in tuning.stored and names nothing of MLflow's
    (read opcode by opcode, never unpickled)."""
    from tests.tuning.test_stored import _globals, _is_pickle, pickled_names

    exp_dir = tracked[0]["exp_dir"]
    assert "tuning.driver.tracking:MlflowTracking" in pickled_names(exp_dir)
    blobs = [p.read_bytes() for p in exp_dir.glob("*.pkl")]
    assert blobs and all(_is_pickle(b) for b in blobs)
    assert not [name for b in blobs for name in _globals(b) if name.startswith("mlflow")]


def test_a_resume_continues_the_parent_with_exactly_one_new_child(tracked):
    first, resumed = tracked
    assert resumed["record"] == first["record"]  # the same parent, from the experiment's mlflow.json
    assert len(resumed["runs"]) == len(first["runs"]) + 1
    assert set(first["children"]) < set(resumed["children"])
    assert set(resumed["children"]) == {t.trial_id for t in resumed["report"].trials}
    (new,) = set(resumed["children"]) - set(first["children"])
    ranks = sorted(int(c["run"].data.tags["tuning.rank"]) for c in resumed["children"].values())
    assert ranks == [1, 2, 3, 4]  # re-ranked at the resume's end, the new trial among them
    assert resumed["children"][new]["run"].info.status == "FINISHED"
    assert resumed["parent"].info.status == "FINISHED"


def test_the_default_local_store_through_MLFLOW_TRACKING_URI(ray_session, tmp_path, monkeypatch, restore_environ):
    """A relative SQLite store of MLFLOW_TRACKING_URI (artifacts go to MLflow's default ./mlruns) is made absolute
    in mlflow.json: a resume from another directory finds the same parent. Synthetic trials: milliseconds."""
    from mlflow import MlflowClient

    from tuning.driver.tuner import run_sweep

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///local.db")
    # every trial its 2 iterations (fifo)
    sweep = branin_sweep({"name": "optuna"}, {"name": "fifo"}, 3, iterations=2) | {"track": {"mlflow": {}}}
    exp_dir = run_sweep(parse_sweep(sweep), storage=str(tmp_path / "runs"), name="local")
    record = json.loads((exp_dir / "mlflow.json").read_text())
    assert record["tracking_uri"] == f"sqlite:///{(tmp_path / 'local.db').resolve()}"
    client = MlflowClient(record["tracking_uri"])
    assert client.get_experiment(record["experiment_id"]).name == "local"  # default: the sweep's name
    children = client.search_runs([record["experiment_id"]], f"tags.`mlflow.parentRunId` = '{record['run_id']}'")
    assert sorted(c.data.tags["tuning.rank"] for c in children) == ["1", "2", "3"]
    assert all([m.step for m in client.get_metric_history(c.info.run_id, "value")] == [1, 2] for c in children)
    parent = client.get_run(record["run_id"])
    assert parent.info.status == "FINISHED"
    assert "report.html" in [a.path for a in client.list_artifacts(parent.info.run_id)]


def _synthetic(track: dict) -> dict:
    return {
        "name": "s",
        "objective": {"name": "branin", "iterations": 2},
        "search": {"metric": "value", "space": {f"objective.x{i}": {"uniform": [0.0, 1.0]} for i in (0, 1)}},
        "track": track,
    }


def test_bad_tracking_is_refused_before_anything_starts(monkeypatch):
    from tuning.driver.tracking import check_tracking

    cfg = parse_sweep(_synthetic({"mlflow": {"tracking_uri": f"http://127.0.0.1:{free_port()}"}}))
    with pytest.raises(UserError, match=r"track\.mlflow\.tracking_uri: no MLflow tracking server answers"):
        check_tracking(cfg)
    with pytest.raises(UserError, match=r"track\.mlflow\.tracking_url: unknown key .*did you mean 'tracking_uri'"):
        parse_sweep(_synthetic({"mlflow": {"tracking_uri": "x", "tracking_url": "y"}}))
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(UserError, match=r"track\.mlflow: MLflow is not installed.*tuning\[mlflow\]"):
        parse_sweep(_synthetic({"mlflow": {}}))

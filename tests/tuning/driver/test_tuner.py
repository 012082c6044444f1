"""End to end: a tiny sweep through the real driver, Ray Tune, Lightning and Optuna."""

import contextlib
import copy
import json
import math
from pathlib import Path

import psutil
import pytest
import yaml

from tuning.driver.tuner import run_sweep
from tuning.errors import UserError
from tuning.report.load import load_report, read_results
from tuning.sweep.config import parse_sweep

LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


@pytest.fixture(scope="module")
def finished(ray_session, tmp_path_factory):
    """One tiny sweep, run once for the tests of this module; one trial at a time: each trial actor running at once
    is a Ray worker of its own that imports Lightning (~8 CPU-s, most of a tiny sweep's cost), one reused actor
    runs them all."""
    from tests.conftest import TINY_SWEEP

    storage = tmp_path_factory.mktemp("runs")
    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["resources"]["max_concurrent"] = 1
    exp_dir = run_sweep(parse_sweep(sweep), storage=str(storage), name="e2e")
    return exp_dir, load_report(str(exp_dir))


@pytest.fixture(scope="module")
def user_grid(ray_session, tmp_path_factory):
    """The report of one sweep of a user's class by dotted path (LinearClassifier) under the random searcher, with a
    grid entry (the data's batch_size) and a sampled lr: 2 samples per grid value, 2 epochs, one trial at a time."""
    from tests.conftest import TINY_SWEEP

    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["model"] = {"class_path": "tests.user_models.LinearClassifier", "init_args": {"width": 64}}
    sweep["search"].update(
        num_samples=2,
        searcher={"name": "random", "seed": 0},
        scheduler={"name": "fifo"},
        space={"data.init_args.batch_size": {"grid": [64, 128]}, "model.init_args.lr": {"loguniform": [1e-3, 1e-1]}},
        baseline=False,  # its first pass would run the grid at the base lr (tests/tuning/driver/test_baseline.py)
    )
    sweep["resources"]["max_concurrent"] = 1
    return load_report(str(run_sweep(parse_sweep(sweep), storage=str(tmp_path_factory.mktemp("runs")), name="grid")))


def test_every_trial_ran_and_is_reported(finished):
    exp_dir, report = finished
    assert len(report.trials) == 4
    assert all(t.status in ("completed", "stopped_early") for t in report.trials)
    assert all(t.metric is not None and math.isfinite(t.metric) for t in report.trials)
    assert all(set(t.config) == {"model.init_args.lr", "model.init_args.hidden_dim"} for t in report.trials)


def test_ranking_follows_each_trials_best_epoch(finished):
    exp_dir, report = finished
    best = {}
    for result_file in exp_dir.glob("trial_*/result.json"):
        rows = read_results(result_file)
        best[rows[0]["trial_id"]] = min(r["val_loss"] for r in rows)
    assert [t.trial_id for t in report.trials] == sorted(best, key=best.get)
    assert [t.metric for t in report.trials] == sorted(best.values())
    assert [t.rank for t in report.trials] == [1, 2, 3, 4]


def test_files_on_disk(finished):
    exp_dir, report = finished
    assert parse_sweep(yaml.safe_load((exp_dir / "sweep.yaml").read_text())).name == "e2e"
    trial_dirs = sorted(exp_dir.glob("trial_*"))
    assert len(trial_dirs) == 4
    for trial_dir in trial_dirs:
        assert (trial_dir / "result.json").is_file() and (trial_dir / "progress.csv").is_file()
        assert list((trial_dir / "tensorboard").glob("events.out.tfevents.*")), "Lightning's TensorBoard logs"
    for trial in report.trials:
        assert trial.checkpoint and (Path(trial.checkpoint) / "checkpoint.ckpt").is_file()


def test_trials_get_distinct_recorded_seeds_from_run_seed(finished):
    exp_dir, report = finished
    seeds = sorted(json.loads(p.read_text())["seed"] for p in exp_dir.glob("trial_*/trial.json"))
    assert seeds == [1, 2, 3, 4]  # run.seed 0 + trial index
    assert sorted(t.seed for t in report.trials) == seeds


def test_asha_stops_trials_early_when_given_room(ray_session, tmp_path, tiny_sweep):
    tiny_sweep["trainer"]["max_epochs"] = 4
    tiny_sweep["search"].update(num_samples=6, scheduler={"name": "asha", "grace_period": 1, "reduction_factor": 3})
    tiny_sweep["resources"]["max_concurrent"] = 1  # sequential, so each rung sees the earlier trials
    report = load_report(str(run_sweep(parse_sweep(tiny_sweep), storage=str(tmp_path))))
    stopped = [t for t in report.trials if t.status == "stopped_early"]
    assert stopped and all(t.iterations < 4 for t in stopped)
    assert all(t.iterations == 4 for t in report.trials if t.status == "completed")


def test_user_class_by_dotted_path_runs_like_a_builtin(user_grid):
    assert [t.status for t in user_grid.trials] == ["completed"] * 4
    assert all(t.iterations == 2 for t in user_grid.trials)


def test_random_search_runs_num_samples_per_grid_point(user_grid):
    """A grid entry under the random searcher multiplies num_samples: each grid value gets its own samples."""
    sizes = sorted(t.config["data.init_args.batch_size"] for t in user_grid.trials)
    assert sizes == [64, 64, 128, 128] and len({t.config["model.init_args.lr"] for t in user_grid.trials}) == 4
    assert all(t.status == "completed" for t in user_grid.trials)


def test_existing_experiment_is_never_overwritten(finished):
    exp_dir, _ = finished
    before = sorted(p.name for p in exp_dir.iterdir())
    with pytest.raises(UserError, match="already exists"):
        run_sweep(
            parse_sweep(yaml.safe_load((exp_dir / "sweep.yaml").read_text())),
            storage=str(exp_dir.parent),
            name=exp_dir.name,
        )
    assert sorted(p.name for p in exp_dir.iterdir()) == before


def test_local_ray_listens_on_loopback_only(ray_session):
    ray_pids = {p.pid for p in psutil.Process().children(recursive=True)}
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in ray_pids]
    assert listening, "Ray's processes should be listening on some port"
    exposed = [(psutil.Process(c.pid).name(), c.laddr) for c in listening if c.laddr.ip not in LOOPBACK]
    assert not exposed


def test_local_ray_starts_no_monitor_api_server_or_log_monitor(ray_session):
    """compat.lean_head_node: what a single-node sweep never uses is not started (each took CPU from the
    workers' imports; the monitor held up every exit by a second)."""
    commands = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            commands.append(" ".join(proc.cmdline()))
    assert any("raylet" in c for c in commands), commands  # this Ray's processes are the ones looked at
    started = [
        name
        for name in ("autoscaler/_private/monitor.py", "dashboard/dashboard.py", "log_monitor.py")
        if any(name in c for c in commands)
    ]
    assert not started

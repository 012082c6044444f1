"""Searchers, schedulers, PBT's exploit, warm starts and multi-seed confirmation, on real tiny sweeps."""

import itertools
import json
import math

import pytest

from tuning.config import parse_sweep
from tuning.confirm import Confirmed, confirmed, render, run_confirm, stats
from tuning.driver import run_sweep
from tuning.report import load_report
from tuning.searchers import SAMPLERS, make_searcher
from tuning.warm_start import warm_start_points


def linear_sweep(tiny_sweep, searcher: dict, scheduler: dict, num_samples: int = 3, epochs: int = 2) -> dict:
    """A sweep of the small linear model: fast enough to run once per searcher and scheduler."""
    tiny_sweep["model"] = {"class_path": "tests.user_models.LinearClassifier", "init_args": {"width": 64}}
    tiny_sweep["trainer"]["max_epochs"] = epochs
    tiny_sweep["search"].update(num_samples=num_samples, searcher=searcher, scheduler=scheduler,
                                space={"model.init_args.lr": {"loguniform": [1e-3, 1e-1]}})
    return tiny_sweep


@pytest.mark.parametrize("searcher", [{"name": "optuna", "sampler": s} for s in sorted(SAMPLERS)] + [{"name": "random"}])
def test_every_searcher_runs_a_sweep(ray_session, tmp_path, tiny_sweep, searcher):
    sweep = linear_sweep(tiny_sweep, searcher, {"name": "fifo"})
    sweep["search"]["searcher"]["points_to_evaluate"] = [{"model.init_args.lr": 0.05}]
    report = load_report(str(run_sweep(parse_sweep(sweep), storage=str(tmp_path))))
    assert len(report.trials) == 3 and all(t.status == "completed" for t in report.trials)
    lrs = [t.config["model.init_args.lr"] for t in report.trials]
    assert 0.05 in lrs, "points_to_evaluate run first"
    assert all(1e-3 <= lr <= 1e-1 for lr in lrs) and len(set(lrs)) == 3


def test_grid_searcher_tries_every_combination(ray_session, tmp_path, tiny_sweep):
    sweep = linear_sweep(tiny_sweep, {"name": "grid"}, {"name": "fifo"}, num_samples=1, epochs=1)
    sweep["search"]["space"] = {"model.init_args.lr": {"choice": [0.01, 0.1]}, "data.init_args.batch_size": {"grid": [64, 128]}}
    report = load_report(str(run_sweep(parse_sweep(sweep), storage=str(tmp_path))))
    seen = sorted((t.config["model.init_args.lr"], t.config["data.init_args.batch_size"]) for t in report.trials)
    assert seen == sorted(itertools.product([0.01, 0.1], [64, 128]))


@pytest.mark.parametrize("scheduler", [{"name": "asha", "grace_period": 1}, {"name": "hyperband"},
                                       {"name": "median", "grace_period": 1, "min_samples_required": 1},
                                       {"name": "fifo"}])
def test_every_stopping_scheduler_runs_a_sweep(ray_session, tmp_path, tiny_sweep, scheduler):
    sweep = linear_sweep(tiny_sweep, {"name": "random"}, scheduler, num_samples=4, epochs=3)
    report = load_report(str(run_sweep(parse_sweep(sweep), storage=str(tmp_path))))
    assert len(report.trials) == 4
    assert all(t.status in ("completed", "stopped_early") and t.metric is not None for t in report.trials), [(t.status, t.iterations) for t in report.trials]
    assert all(t.iterations == 3 for t in report.trials if t.status == "completed")


def test_pbt_restarts_from_checkpoint_weights_and_keeps_its_own_lr(ray_session, tmp_path, tiny_sweep):
    probe = tmp_path / "probe.jsonl"
    sweep = linear_sweep(tiny_sweep, {"name": "random"}, {"name": "pbt", "perturbation_interval": 1,
                                                          "quantile_fraction": 0.5}, num_samples=4, epochs=6)
    sweep["model"] = {"class_path": "tests.pbt_probe.ProbeClassifier",
                      "init_args": {"probe_file": str(probe), "epoch_seconds": 1.0}}
    sweep["resources"] = {"cpu": 0.5, "max_concurrent": 4}
    run_sweep(parse_sweep(sweep), storage=str(tmp_path))

    records = [json.loads(line) for line in probe.read_text().splitlines()]
    saved = {}  # weights digest -> the lr of every checkpoint saved with exactly those weights
    for record in records:
        if "saved" in record:
            saved.setdefault(record["saved"], []).append(record["lr"])
    restarts = [r for r in records if r.get("epoch", 0) > 0]
    assert restarts, "PBT should have restarted trials from checkpoints"
    for record in restarts:
        assert record["weights"] in saved, "a restarted trial starts from a checkpoint's exact weights"
        assert record["optimizer_lr"] == pytest.approx(record["lr"]), "its own (mutated) lr is what the optimizer uses"


def test_stats_on_known_numbers():
    mean, std, ci = stats([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert std == pytest.approx(math.sqrt(5 / 3))
    assert ci == pytest.approx(3.182446305 * math.sqrt(5 / 3) / 2)  # t(0.975, df=3) = 3.1824
    assert stats([2.0]) == (2.0, None, None)


def test_render_says_plainly_when_the_sweeps_winner_loses():
    results = [Confirmed({"lr": 0.1}, 2, 0.30, [0.20, 0.22]), Confirmed({"lr": 0.2}, 1, 0.25, [0.40, 0.38])]
    text = render(results, "val_loss", "min")
    assert "The sweep's winner is NOT the confirmed winner: sweep rank 2" in text


def test_confirm_reruns_the_top_configs_with_new_seeds(ray_session, tmp_path, tiny_sweep):
    sweep = linear_sweep(tiny_sweep, {"name": "random"}, {"name": "asha", "grace_period": 1}, num_samples=4)
    source = run_sweep(parse_sweep(sweep), storage=str(tmp_path))
    top = [t.config for t in load_report(str(source)).trials[:2]]
    confirm_dir = run_confirm(str(source), top=2, seeds=2)
    results, metric, mode = confirmed(str(confirm_dir))
    assert sorted(json.dumps(r.config) for r in results) == sorted(json.dumps(c) for c in top)
    assert all(len(r.values) == 2 for r in results), "each config ran once per seed, none stopped early"
    seeds = [json.loads(p.read_text())["seed"] for p in confirm_dir.glob("trial_*/trial.json")]
    sweep_seeds = [json.loads(p.read_text())["seed"] for p in source.glob("trial_*/trial.json")]
    assert len(set(seeds)) == 4 and not set(seeds) & set(sweep_seeds)
    assert json.loads((confirm_dir / "confirm.json").read_text())["source"] == str(source)


def test_warm_start_feeds_earlier_trials_into_the_study(ray_session, tmp_path, tiny_sweep):
    import optuna

    source = run_sweep(parse_sweep(linear_sweep(tiny_sweep, {"name": "random"}, {"name": "fifo"}, num_samples=3,
                                                epochs=1)), storage=str(tmp_path), name="first")
    tiny_sweep["search"].update(searcher={"name": "optuna"}, warm_start=[str(source)])
    cfg = parse_sweep({**tiny_sweep, "name": "second"})
    points = warm_start_points(cfg.search.warm_start, cfg.search)
    assert len(points) == 3
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    searcher = make_searcher(cfg.search, 0, storage=storage, warm_start=points)
    from tuning.space import to_param_space

    searcher.set_search_properties(cfg.search.metric, cfg.search.mode, to_param_space(cfg.search.space))
    study = optuna.load_study(study_name="tuning", storage=storage)
    assert sorted(t.value for t in study.trials) == sorted(v for _, v in points)


def test_warm_start_skips_configs_outside_the_space(ray_session, tmp_path, tiny_sweep, capsys):
    source = run_sweep(parse_sweep(linear_sweep(tiny_sweep, {"name": "random"}, {"name": "fifo"}, num_samples=2,
                                                epochs=1)), storage=str(tmp_path))
    cfg = parse_sweep(tiny_sweep)
    cfg.search.space["model.init_args.lr"] = cfg.search.space["model.init_args.lr"].__class__("loguniform", (0.5, 0.9))
    assert warm_start_points([str(source)], cfg.search) == []
    assert "skipped 2 trial(s)" in capsys.readouterr().err

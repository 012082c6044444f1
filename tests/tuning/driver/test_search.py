"""Searchers, schedulers, PBT's exploit, warm starts and multi-seed confirmation, on real tiny sweeps."""

import itertools
import json
import math

import pytest

from tests.synthetic_sweeps import branin_sweep
from tuning.driver.confirm import Confirmed, confirmed, render_confirmed, run_confirm, stats
from tuning.driver.resume import STUDY_FILE
from tuning.driver.tuner import run_sweep
from tuning.driver.warm_start import warm_start_points
from tuning.report.load import load_report, read_results
from tuning.search.searchers import SAMPLERS
from tuning.sweep.config import parse_sweep


def linear_sweep(tiny_sweep, searcher: dict, scheduler: dict, num_samples: int = 3, epochs: int = 2) -> dict:
    """A sweep of the small linear model: fast enough to run once per searcher and scheduler. One trial at a time
    unless a test says otherwise: each trial actor running at once is a Ray worker of its own that imports Lightning
    (~8 CPU-s, most of a tiny sweep's cost), while one reused actor runs every trial."""
    tiny_sweep["model"] = {"class_path": "tests.user_models.LinearClassifier", "init_args": {"width": 64}}
    tiny_sweep["trainer"]["max_epochs"] = epochs
    tiny_sweep["resources"]["max_concurrent"] = 1
    tiny_sweep["search"].update(
        num_samples=num_samples,
        searcher=searcher,
        scheduler=scheduler,
        space={"model.init_args.lr": {"loguniform": [1e-3, 1e-1]}},
    )
    return tiny_sweep


def test_every_searcher_runs_a_sweep_with_its_own_sampler(ray_session, tmp_path):
    """Every Optuna sampler and Tune's random search run a sweep (its points_to_evaluate first) and, with the same
    seed, each proposes its own configs: were the sampler setting ignored, the Optuna ones would all be TPE's."""
    # One trial at a time, so each searcher's sequence is deterministic; 12 trials, past the 10 random
    # start-up trials of TPE and GP (which share RandomSampler's sequence for the same seed); NSGA-II's first 50
    # are random too.
    sequences = {}
    for searcher in [{"name": "optuna", "sampler": s} for s in sorted(SAMPLERS)] + [{"name": "random"}]:
        searcher["points_to_evaluate"] = [{"objective.x0": 3.0, "objective.x1": 2.0}]
        sweep = branin_sweep(searcher, {"name": "fifo"}, num_samples=12, iterations=1, max_concurrent=1)
        label = f"optuna-{searcher['sampler']}" if "sampler" in searcher else searcher["name"]
        exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path), name=label)
        report = load_report(str(exp))
        assert len(report.trials) == 12 and all(t.status == "completed" for t in report.trials), label
        points = [(t.config["objective.x0"], t.config["objective.x1"]) for t in report.trials]
        first = read_results(sorted(exp.glob("trial_*"))[0] / "result.json")[0]["config"]  # trial 1, in creation order
        assert (first["objective.x0"], first["objective.x1"]) == (3.0, 2.0), f"{label}: points_to_evaluate run first"
        assert all(-5 <= x0 <= 10 and 0 <= x1 <= 15 for x0, x1 in points) and len(set(points)) == 12, label
        sequences[label] = sorted(points)
    # NSGA-II's first generation (its population of 50) is drawn by RandomSampler with the same seed.
    assert sequences.pop("optuna-nsga2") == sequences["optuna-random"], "nsga2's first generation is random"
    assert len({tuple(points) for points in sequences.values()}) == len(sequences), "each sampler suggests its own"


def test_grid_searcher_tries_every_combination(ray_session, tmp_path):
    sweep = branin_sweep({"name": "grid"}, {"name": "fifo"}, num_samples=1, iterations=1)
    sweep["search"]["space"] = {"objective.x0": {"choice": [-1.0, 1.0]}, "objective.x1": {"grid": [2.0, 4.0]}}
    report = load_report(str(run_sweep(parse_sweep(sweep), storage=str(tmp_path))))
    seen = sorted((t.config["objective.x0"], t.config["objective.x1"]) for t in report.trials)
    assert seen == sorted(itertools.product([-1.0, 1.0], [2.0, 4.0]))


def test_grid_searcher_expands_every_branch_of_a_conditional_choice(ray_session, tmp_path):
    """Tune asks the conditional grid searcher for every point (the sum over branches; tests/tuning/
    test_conditional.py counts branches of unequal sizes), times num_samples: not num_samples alone."""
    sweep = branin_sweep({"name": "grid"}, {"name": "fifo"}, num_samples=2, iterations=1)
    sweep["search"]["space"] = {
        "objective.x0": {
            "choice": {-3.0: {"objective.x1": {"grid": [10.0, 12.0]}}, 3.0: {"objective.x1": {"grid": [10.0, 12.0]}}}
        }
    }
    report = load_report(str(run_sweep(parse_sweep(sweep), storage=str(tmp_path))))
    seen = sorted((t.config["objective.x0"], t.config["objective.x1"]) for t in report.trials)
    assert seen == sorted(list(itertools.product([-3.0, 3.0], [10.0, 12.0])) * 2)


@pytest.mark.parametrize(
    "scheduler, stops",
    [
        ({"name": "asha", "grace_period": 1, "reduction_factor": 2}, True),
        ({"name": "median", "grace_period": 1, "min_samples_required": 1}, True),
        ({"name": "fifo"}, False),
    ],
)
def test_stopping_schedulers_stop_and_fifo_never_does(ray_session, tmp_path, scheduler, stops):
    """ASHA and the median rule end some trials before their 4 iterations (stopped_early, fewer iterations) and
    let others finish; FIFO runs every trial to the end."""
    sweep = branin_sweep({"name": "random"}, scheduler, num_samples=8, iterations=4)
    report = load_report(str(run_sweep(parse_sweep(sweep), storage=str(tmp_path))))
    assert len(report.trials) == 8 and all(t.metric is not None for t in report.trials)
    statuses = [t.status for t in report.trials]
    assert all(t.iterations == 4 for t in report.trials if t.status == "completed")
    assert all(0 < t.iterations < 4 for t in report.trials if t.status == "stopped_early")
    if stops:
        assert "stopped_early" in statuses and "completed" in statuses, statuses
    else:
        assert statuses == ["completed"] * 8


def test_hyperband_pauses_at_its_rung_and_resumes_the_best_from_its_checkpoint(ray_session, tmp_path, tiny_sweep):
    """HyperBand (max_t 3, reduction_factor 3) runs its first bracket (trials 0, 1) to the budget; its second
    bracket (trials 2-4) pauses each trial at epoch 1 until the last arrives, then the best goes on from its epoch-1
    checkpoint (training_iteration goes on while iterations_since_restore starts again) and the others end after
    epoch 1. ASHA and FIFO never pause a trial, so with either no trial restarts."""
    probe = tmp_path / "probe.jsonl"
    sweep = linear_sweep(
        tiny_sweep, {"name": "random"}, {"name": "hyperband", "reduction_factor": 3}, num_samples=5, epochs=3
    )
    sweep["model"] = {"class_path": "tests.pbt_probe.ProbeClassifier", "init_args": {"probe_file": str(probe)}}
    sweep["search"]["space"]["model.init_args.after_lr"] = {"choice": [0.0, 0.1]}
    # Trial 2 (the best lr of its bracket) reports epoch 1 first and is paused there: 3 and 4 end their epochs
    # only after it saved its epoch-1 checkpoint (a fixed sleep lost that race on a loaded machine).
    lrs_and_waits = [(0.01, 0.0), (0.01, 0.0), (0.1, 0.0), (0.001, 0.1), (0.001, 0.1)]
    sweep["search"]["searcher"]["points_to_evaluate"] = [
        {"model.init_args.lr": lr, "model.init_args.after_lr": after} for lr, after in lrs_and_waits
    ]
    sweep["resources"] = {"cpu": 0.5, "max_concurrent": 5}  # all 5 trials exist from the start: brackets by order
    exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path))
    report = load_report(str(exp))
    best = next(t for t in report.trials if t.config["model.init_args.lr"] == 0.1)
    # (training_iteration, iterations_since_restore) of each trial: they differ once a trial was restored.
    steps = {
        path.parent.name: [(r["training_iteration"], r["iterations_since_restore"]) for r in read_results(path)]
        for path in exp.glob("trial_*/result.json")
    }
    resumed = {name: rows for name, rows in steps.items() if any(i != since for i, since in rows)}
    assert list(resumed.values()) == [[(1, 1), (2, 1), (3, 2)]], f"one trial paused at epoch 1, resumed: {steps}"
    assert next(iter(resumed)).endswith(best.trial_id), "the best of the bracket went on"
    records = [json.loads(line) for line in probe.read_text().splitlines()]
    saved = {r["saved"] for r in records if "saved" in r}
    restarts = [r for r in records if r.get("epoch", 0) > 0]
    assert [r["epoch"] for r in restarts] == [1] and restarts[0]["weights"] in saved, "restored from its checkpoint"
    # The others of its bracket are cut at the rung (one HyperBand ends while Tune is still pausing it stays
    # PAUSED in Tune's state: the report of the finished sweep counts it stopped early); the first bracket's
    # two run the budget.
    ran = sorted((t.config["model.init_args.lr"], t.iterations) for t in report.trials)
    assert ran == [(0.001, 1), (0.001, 1), (0.01, 3), (0.01, 3), (0.1, 3)], ran
    assert [t.status for t in report.trials if t.iterations == 3] == ["completed"] * 3
    assert [t.status for t in report.trials if t.iterations == 1] == ["stopped_early"] * 2


def test_pbt_restarts_from_checkpoint_weights_and_keeps_its_own_lr(ray_session, tmp_path, tiny_sweep):
    probe = tmp_path / "probe.jsonl"
    sweep = linear_sweep(
        tiny_sweep,
        {"name": "random"},
        {"name": "pbt", "perturbation_interval": 1, "quantile_fraction": 0.5},
        num_samples=4,
        epochs=4,
    )
    sweep["model"] = {
        "class_path": "tests.pbt_probe.ProbeClassifier",
        "init_args": {"probe_file": str(probe), "epoch_seconds": 1.0},
    }
    # Four side by side, not two: under load a second worker's Lightning import can outlast a first trial's 4 epochs,
    # and PBT then has no peer to compare with (a run with two had no restart); four make an overlap near certain.
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
    text = render_confirmed(results, "val_loss", "min")
    assert "The sweep's winner is NOT the confirmed winner: sweep rank 2" in text


def test_confirm_reruns_the_top_configs_with_new_seeds(ray_session, tmp_path, tiny_sweep):
    """confirm reruns the sweep's top 2 configs twice each, with seeds the sweep did not use, at full budget
    (none stopped early, though the sweep had ASHA), linked to the sweep."""
    sweep = linear_sweep(tiny_sweep, {"name": "random"}, {"name": "asha", "grace_period": 1}, num_samples=4)
    source = run_sweep(parse_sweep(sweep), storage=str(tmp_path))
    top = [t.config for t in load_report(str(source)).trials[:2]]
    confirm_dir = run_confirm(str(source), top=2, seeds=2)
    results, metric, mode = confirmed(str(confirm_dir))
    assert sorted(json.dumps(r.config) for r in results) == sorted(json.dumps(c) for c in top)
    assert all(len(r.values) == 2 for r in results), "each config ran once per seed"
    assert [t.status for t in load_report(str(confirm_dir)).trials] == ["completed"] * 4, "none stopped early"
    seeds = [json.loads(p.read_text())["seed"] for p in confirm_dir.glob("trial_*/trial.json")]
    sweep_seeds = [json.loads(p.read_text())["seed"] for p in source.glob("trial_*/trial.json")]
    assert len(set(seeds)) == 4 and not set(seeds) & set(sweep_seeds)
    assert json.loads((confirm_dir / "confirm.json").read_text())["source"] == str(source)


def test_a_warm_started_sweep_starts_its_study_with_the_earlier_trials(ray_session, tmp_path):
    """A sweep warm-started from an earlier one: its study in optuna.db holds the earlier trials first (their
    params and values, marked warm_start), then this sweep's own trials; the report lists only its own."""
    import optuna

    first = branin_sweep({"name": "random"}, {"name": "fifo"}, num_samples=3, iterations=1)
    source = run_sweep(parse_sweep(first), storage=str(tmp_path), name="first")
    earlier = sorted(
        (t.config["objective.x0"], t.config["objective.x1"], t.metric) for t in load_report(str(source)).trials
    )
    second = branin_sweep({"name": "optuna"}, {"name": "fifo"}, num_samples=2, iterations=1)
    second["search"]["warm_start"] = [str(source)]
    exp = run_sweep(parse_sweep(second), storage=str(tmp_path), name="second")
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp / STUDY_FILE}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 5
    warm, own = study.trials[:3], study.trials[3:]
    assert all(t.user_attrs.get("warm_start") for t in warm), "the 3 earlier trials are told first"
    told = sorted((*(t.params[k] for k in sorted(t.params)), t.value) for t in warm)
    assert [row[:2] for row in told] == [row[:2] for row in earlier], "with their params"
    assert [row[2] for row in told] == pytest.approx([row[2] for row in earlier]), "and their values"
    ids = sorted(t.trial_id for t in load_report(str(exp)).trials)
    assert sorted(t.user_attrs.get("tune_trial_id") for t in own) == ids, "then this sweep's 2 trials"
    assert not any(t.user_attrs.get("warm_start") for t in own)


def test_warm_start_skips_configs_outside_the_space(ray_session, tmp_path, capsys):
    source = run_sweep(
        parse_sweep(branin_sweep({"name": "random"}, {"name": "fifo"}, num_samples=2, iterations=1)),
        storage=str(tmp_path),
    )
    cfg = parse_sweep(branin_sweep({"name": "optuna"}, {"name": "fifo"}, num_samples=2))
    cfg.search.space["objective.x0"] = cfg.search.space["objective.x0"].__class__("uniform", (20.0, 30.0))
    assert warm_start_points([str(source)], cfg.search) == []
    assert "skipped 2 trial(s)" in capsys.readouterr().err


def test_conditional_sweeps_sample_only_the_chosen_branches(ray_session, tmp_path):
    """A random sweep of a two-level conditional space, then an optuna one warm-started from it (a point to
    evaluate down the deepest branch first): every trial, reported and in the study, holds the keys of the
    branches it chose, each inside that branch's domain; the study also holds the warm-start trials."""
    import optuna

    from tests.tuning.search.test_conditional import DECAY, HIDDEN, LAYERS, LR, respects_its_branch, sweep

    def conditional(searcher, num_samples, **extra):
        data = sweep(searcher=searcher, num_samples=num_samples, scheduler={"name": "fifo"}, **extra)
        data["trainer"]["max_epochs"] = 1
        data["resources"]["max_concurrent"] = 1  # one reused trial actor: one Lightning worker per sweep, not two
        return parse_sweep(data)

    source = run_sweep(conditional({"name": "random", "seed": 1}, 2), storage=str(tmp_path), name="random")
    earlier = load_report(str(source)).trials
    assert len(earlier) == 2 and all(respects_its_branch(t.config) for t in earlier), [t.config for t in earlier]
    deep = {LR: 0.01, LAYERS: 3, DECAY: 0.01}  # dropout and hidden_dim left to the sampler
    exp = run_sweep(
        conditional({"name": "optuna", "points_to_evaluate": [deep]}, 2, warm_start=[str(source)]),
        storage=str(tmp_path),
        name="optuna",
    )
    own = {t.trial_id: t.config for t in load_report(str(exp)).trials}
    assert len(own) == 2 and all(respects_its_branch(c) for c in own.values()), own
    assert any(c[LAYERS] == 3 and c[DECAY] == 0.01 and HIDDEN in c for c in own.values()), "the point ran"
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp / STUDY_FILE}").trials
    warm = [t.params for t in study if t.user_attrs.get("warm_start")]
    assert sorted(map(str, warm)) == sorted(map(str, (t.config for t in earlier))), "told with their own keys"
    assert {t.user_attrs["tune_trial_id"]: t.params for t in study if not t.user_attrs.get("warm_start")} == own
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study)

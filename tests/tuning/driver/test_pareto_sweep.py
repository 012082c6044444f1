"""A sweep of two objectives end to end: the study, the report's Pareto ranks and the HTML front agree."""

import json
import re

import numpy
import optuna
import pytest

from tests.tuning.driver.test_study import study_by_tune_id
from tuning.driver.resume import STUDY_FILE
from tuning.driver.tuner import run_sweep
from tuning.report.formats import render
from tuning.report.html import html
from tuning.report.load import load_report
from tuning.sweep.config import parse_sweep


def zdt1_sweep(sampler: str, scheduler: dict, num_samples: int, iterations: int = 2) -> dict:
    """ZDT1 (two objectives, f1 and f2, both minimized): trials take milliseconds."""
    return {
        "name": "zdt1",
        "objective": {"name": "zdt1", "iterations": iterations},
        "search": {
            "metric": ["f1", "f2"],
            "mode": ["min", "min"],
            "num_samples": num_samples,
            "space": {f"objective.x{i}": {"uniform": [0.0, 1.0]} for i in range(4)},
            "searcher": {"name": "optuna", "sampler": sampler, "seed": 0},
            "scheduler": scheduler,
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0},
    }


def non_dominated(values: dict) -> set:
    """Trial ids whose (f1, f2) no other trial's beats in one and equals or beats in the other (both minimized)."""
    return {
        t for t, (a, b) in values.items() if not any(c <= a and d <= b and (c < a or d < b) for c, d in values.values())
    }


def test_pareto_rank_1_is_the_non_dominated_set_and_the_studys_best_trials(ray_session, tmp_path, capsys):
    exp = run_sweep(parse_sweep(zdt1_sweep("tpe", {"name": "fifo"}, num_samples=10)), storage=str(tmp_path))
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    report = load_report(str(exp))
    values = {t.trial_id: tuple(t.values) for t in report.trials}
    front = {t.trial_id for t in report.trials if t.pareto_rank == 1}
    assert front == non_dominated(values) and 1 < len(front) < len(values)
    assert len(progress) == 10 and re.fullmatch(
        rf"\[10/10\] trial \w+: f1 [\d.e-]+, f2 [\d.e-]+ in 2 epochs "
        rf"\(Pareto front: {len(front)} trials\)",
        progress[-1],
    ), progress
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp / STUDY_FILE}")
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * 2
    assert {t.user_attrs["tune_trial_id"] for t in study.best_trials} == front
    for trial_id, mirrored in study_by_tune_id(exp).items():
        assert mirrored.state == optuna.trial.TrialState.COMPLETE
        assert mirrored.values == pytest.approx(list(values[trial_id]))
        assert sorted(mirrored.user_attrs["epoch_values"]) == ["1", "2"], "every epoch, as a user attribute"
    # Ordered by Pareto rank, then f1; metric is the first value; the JSON carries values and pareto_rank.
    keys = [(t.pareto_rank, t.metric) for t in report.trials]
    assert keys == sorted(keys) and all(t.metric == t.values[0] for t in report.trials)
    data = json.loads(report.to_json())
    assert (data["metrics"], data["modes"]) == (["f1", "f2"], ["min", "min"])
    assert [t["pareto_rank"] for t in data["trials"]] == [t.pareto_rank for t in report.trials]
    assert any(line.split()[:4] == ["rank", "trial", "status", "pareto"] for line in render(report).splitlines())
    page = html(report)
    assert page.count('class="front"') == 1 and page.count('style="fill:#d62728"') == len(front)


def asha_stops(trials: list[list[float]], rungs=(1, 2), rf: int = 2) -> list[int | None]:
    """Where Tune's ASHA (one bracket, trials one after another) stops each trial, given each one's values per
    iteration of the metric it compares (minimized), by ray.tune.schedulers.async_hyperband's rule: at a rung,
    a trial worse than the rung's (1 - 1/rf) quantile so far stops; every trial's value is recorded there."""
    recorded, stops = {r: [] for r in rungs}, []
    for values in trials:
        stop = None
        for iteration, value in enumerate(values, 1):
            if iteration in recorded and stop is None:
                if recorded[iteration] and -value < numpy.nanpercentile(recorded[iteration], (1 - 1 / rf) * 100):
                    stop = iteration
                recorded[iteration].append(-value)
        stops.append(stop)
    return stops


def test_asha_compares_the_metric_it_names_and_its_stopped_trials_are_pruned(ray_session, tmp_path):
    sweep = zdt1_sweep(
        "nsga2", {"name": "asha", "metric": "f2", "grace_period": 1, "reduction_factor": 2}, num_samples=8, iterations=3
    )
    sweep["resources"]["max_concurrent"] = 1  # ASHA's decisions then follow from the trials' order alone
    exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path))
    report, study = load_report(str(exp)), study_by_tune_id(exp)
    stopped = [t for t in report.trials if t.status == "stopped_early"]
    assert stopped, "ASHA stopped none: nothing to check"
    for trial in stopped:
        assert study[trial.trial_id].state == optuna.trial.TrialState.PRUNED
    order = [d.name.split("_")[2] for d in sorted(exp.glob("trial_*"))]
    by_id = {t.trial_id: t for t in report.trials}
    curves = {m: [[r[m] for r in report.results if r["trial_id"] == t] for t in order] for m in ("f1", "f2")}
    observed = [by_id[t].stopped_at for t in order]
    assert asha_stops(curves["f2"]) == observed, "ASHA compared f2, the metric search.scheduler.metric names"
    assert asha_stops(curves["f1"]) != observed, "f1 would stop the same trials: the test tells nothing apart"


def test_confirm_reruns_the_pareto_front(ray_session, tmp_path):
    from tuning.driver.confirm import confirmed, render_confirmed, run_confirm

    source = run_sweep(
        parse_sweep(zdt1_sweep("random", {"name": "fifo"}, num_samples=6, iterations=1)), storage=str(tmp_path)
    )
    front = [t.config for t in load_report(str(source)).trials if t.pareto_rank == 1]
    assert 1 < len(front) < 6
    results, metric, _ = confirmed(str(run_confirm(str(source), top=None, seeds=1)))
    assert sorted(json.dumps(r.config) for r in results) == sorted(json.dumps(c) for c in front), "the whole front"
    # ZDT1 has no noise: the reruns give the same values, so the front stays the front.
    assert [r.pareto_rank for r in results] == [1] * len(front) and metric == "f1"
    assert "Pareto front of the mean values" in render_confirmed(results, metric, "min")


def test_a_nsga2_sweep_of_two_objectives_extends_from_its_pickled_searcher(ray_session, tmp_path):
    """`resume --more` restores Tune's pickled searcher, NSGA-II's sampler with it (Optuna's own cannot be
    pickled: tuning.compat.optuna.PicklableNSGAIISampler), and the study goes on with one direction per metric."""
    from tuning.cli.commands import main

    exp = run_sweep(
        parse_sweep(zdt1_sweep("nsga2", {"name": "fifo"}, num_samples=3, iterations=1)), storage=str(tmp_path)
    )
    assert main(["resume", str(exp), "--more", "2"]) == 0
    report = load_report(str(exp))
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp / STUDY_FILE}")
    assert len(report.trials) == 5 and len({json.dumps(t.config) for t in report.trials}) == 5
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 5
    front = {t.trial_id for t in report.trials if t.pareto_rank == 1}
    assert {t.user_attrs["tune_trial_id"] for t in study.best_trials} == front

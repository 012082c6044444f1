"""Hyperparameter importance: Optuna's evaluators on a study rebuilt from an experiment directory."""

import math
import random
import re

from tests.tuning.report.test_report import make_experiment
from tuning.report.importance import build_study, distributions, importance
from tuning.report.load import load_report

SPACE = {
    "model.init_args.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "model.init_args.hidden_dim": {"choice": [8, 16]},
    "model.init_args.dropout": {"uniform": [0.0, 0.5]},
    "model.init_args.layers": {"randint": [1, 4]},
}


def _experiment(tmp_path, n=40):
    """The loss depends on lr alone; the other params are noise."""
    rng = random.Random(0)
    trials = {}
    for i in range(n):
        params = {
            "model.init_args.lr": 10 ** rng.uniform(-4, -1),
            "model.init_args.hidden_dim": rng.choice([8, 16]),
            "model.init_args.dropout": rng.uniform(0, 0.5),
            "model.init_args.layers": rng.randint(1, 3),
        }
        loss = abs(math.log10(params["model.init_args.lr"]) + 2.5) + rng.uniform(0, 0.01)
        trials[f"t{i:03d}"] = ("TERMINATED", [loss + 1, loss], {}, params)
    trials["nan"] = ("ERROR", [math.nan], {}, {**params})  # no finite metric: left out of the study
    return make_experiment(tmp_path / "e", trials, space=SPACE)


def test_both_evaluators_find_the_one_parameter_that_matters(tmp_path):
    report = load_report(str(_experiment(tmp_path)))
    result = importance(report)
    assert result["trials"] == 40
    for name in ("fanova", "ped_anova"):
        assert max(result[name], key=result[name].get) == "model.init_args.lr", result
        assert set(result[name]) == set(SPACE)


def test_the_study_is_rebuilt_with_the_sweeps_distributions(tmp_path):
    study = build_study(load_report(str(_experiment(tmp_path, n=6))))
    assert len(study.trials) == 6
    dists = study.trials[0].distributions
    assert dists["model.init_args.lr"].log and dists["model.init_args.lr"].low == 1.0e-4
    assert dists["model.init_args.hidden_dim"].choices == (8, 16)
    assert (dists["model.init_args.layers"].low, dists["model.init_args.layers"].high) == (1, 3)  # high excluded
    assert sorted(t.value for t in study.trials) == sorted(
        t.metric for t in load_report(str(tmp_path / "e")).trials if t.metric is not None
    )


def test_quantized_values_outside_the_bounds_widen_them():
    dists = distributions(
        {"trainer.gradient_clip_val": {"quniform": [0.5, 2.0, 0.4]}}, {"trainer.gradient_clip_val": [2.4]}
    )
    assert (dists["trainer.gradient_clip_val"].low, dists["trainer.gradient_clip_val"].high) == (0.5, 2.4)


def test_too_few_trials_say_so(tmp_path):
    result = importance(load_report(str(_experiment(tmp_path, n=2))))
    assert "fanova" not in result and "needs at least 4 trials" in result["note"]


def test_a_branch_parameter_is_absent_where_its_branch_was_not_chosen(tmp_path):
    """A conditional space: dropout exists only with 2 layers. The report, its table, its CSV and the rebuilt
    study leave it absent elsewhere (not None, 0 or '-' as a value); importance ranks the keys every trial has,
    over every trial, and names the others; parallel coordinates break the line at the missing axis."""
    from tuning.report import svg
    from tuning.report.formats import render
    from tuning.report.html import html

    lr, layers, dropout = "model.init_args.lr", "model.init_args.num_layers", "model.init_args.dropout"
    space = {lr: {"loguniform": [1.0e-4, 1.0e-1]}, layers: {"choice": {1: {}, 2: {dropout: {"uniform": [0.0, 0.5]}}}}}
    rng, trials = random.Random(0), {}
    for i in range(12):
        params = {lr: 10 ** rng.uniform(-4, -1), layers: 1 + i % 2}
        if params[layers] == 2:
            params[dropout] = rng.uniform(0, 0.5)
        trials[f"t{i:02d}"] = ("TERMINATED", [abs(math.log10(params[lr]) + 2.5)], {}, params)
    report = load_report(str(make_experiment(tmp_path / "e", trials, space=space)))
    assert report.conditional == (dropout,) and set(report.space) == {lr, layers, dropout}
    one_layer = [t for t in report.trials if t.config[layers] == 1]
    assert len(one_layer) == 6 and all(dropout not in t.config for t in one_layer)
    study = build_study(report)
    assert len(study.trials) == 12, "every trial counts, not only those with every key"
    assert sorted(len(t.params) for t in study.trials) == [2] * 6 + [3] * 6
    result = importance(report)
    assert set(result["fanova"]) == {lr, layers} and dropout in result["note"]
    csv = render(report, "csv").splitlines()
    column = csv[0].split(",").index(f'"{dropout}"')
    assert sum(row.split(",")[column] == "" for row in csv[1:13]) == 6, "a blank cell, not a value"
    page = html(report)
    gaps = [d for d in re.findall(r'<path class="series par" d="([^"]*)"', page)]
    assert len(gaps) == 6 and all(d.count("M") == 2 for d in gaps), "lr to layers, a gap, the metric"
    assert svg._runs(["a", None, "b", "c"]) == [["a"], ["b", "c"]]

"""The baseline first: the sweep's base configuration is its first trial, the searcher learns from it, every
report format marks it and says what the search bought over it; without one, the run says why, once."""

import contextlib
import copy
import io
import json

import optuna
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.conftest import TINY_SWEEP
from tests.in_process import tuning_here
from tests.synthetic_sweeps import branin_sweep
from tuning.driver.baseline import base_point, base_value, first_in_search
from tuning.driver.confirm import confirm_sweep
from tuning.driver.resume import STUDY_FILE
from tuning.driver.tuner import run_sweep
from tuning.report.load import read_results
from tuning.sweep.config import parse_sweep

# TINY_SWEEP's base: hidden_dim as its model section gives it, lr (not given) the mlp class's default, from source.
BASE = {"model.init_args.lr": 1e-3, "model.init_args.hidden_dim": 16}


def _tiny(**search) -> dict:
    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["trainer"]["max_epochs"] = 1
    sweep["search"].update({"num_samples": 3, "scheduler": {"name": "fifo"}, **search})
    sweep["resources"]["max_concurrent"] = 1  # one worker imports Lightning, reused by every trial
    return sweep


def _first_config(exp) -> dict:
    """The config of the trial Tune created first (trial directories are numbered in creation order)."""
    return read_results(sorted(exp.glob("trial_*/result.json"))[0])[0]["config"]


@pytest.fixture(scope="module")
def swept(ray_session, tmp_path_factory):
    """(experiment, what the run printed on stderr, the report JSON) of one tiny optuna sweep of 3 trials, of two
    objectives (val_loss, min, first; val_acc, max): the same baseline code as one objective's, whose header is
    checked on made-up experiments (tests/tuning/report/test_baseline.py); one sweep checks both at no extra cost."""
    err = io.StringIO()
    sweep = _tiny(metric=["val_loss", "val_acc"], mode=["min", "max"])
    with contextlib.redirect_stderr(err):
        exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path_factory.mktemp("baseline")), name="tiny")
    return exp, err.getvalue(), json.loads(tuning_here("report", str(exp), "--format", "json").stdout)


def test_the_first_trial_runs_the_base_configuration(swept):
    exp, err, report = swept
    assert _first_config(exp) == BASE
    assert len(report["trials"]) == 3, "one of num_samples, not one more"
    assert json.loads((exp / "environment.json").read_text())["baseline"] == {"config": BASE}
    assert err.count("baseline: the first trial runs the base configuration (lr=0.001, hidden_dim=16)") == 1, err


def test_the_searcher_learns_from_the_baseline(swept):
    """Optuna holds the baseline as its first trial, finished with its values: TPE models it as any other."""
    exp, _, report = swept
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp / STUDY_FILE}")
    first = study.trials[0]
    (baseline,) = [t for t in report["trials"] if t["baseline"]]
    assert first.params == BASE and first.user_attrs["tune_trial_id"] == baseline["trial_id"]
    assert first.state == optuna.trial.TrialState.COMPLETE and first.values == pytest.approx(baseline["values"])


def test_every_format_marks_the_baseline_and_its_improvement_is_the_reports_own(swept, tmp_path):
    exp, _, report = swept
    (baseline,) = [t for t in report["trials"] if t["baseline"]]
    best = report["trials"][0]
    gained = baseline["metric"] - best["metric"]  # val_loss: lower is better
    assert report["baseline"] == {
        "trial_id": baseline["trial_id"],
        "metric": baseline["metric"],
        "best": best["metric"],
        "best_trial_id": best["trial_id"],
        "improvement": pytest.approx(gained),
        "relative": pytest.approx(gained / baseline["metric"]),
    }
    line = f"improvement {gained:.4g} (+{gained / baseline['metric']:.1%})"
    for fmt in ("table", "markdown", "html"):
        out = tuning_here("report", str(exp), "--format", fmt).stdout
        assert f"{baseline['trial_id']} (baseline)" in out and line in out, (fmt, out[:2000])
    for fmt, read in (("csv", pacsv.read_csv), ("parquet", pq.read_table)):
        path = tmp_path / f"trials.{fmt}"
        assert tuning_here("report", str(exp), "--format", fmt, "--output", str(path)).returncode == 0
        table = read(path).to_pydict()
        marked = dict(zip(table["trial_id"], table["baseline"]))
        assert marked == {t["trial_id"]: t is baseline for t in report["trials"]}, fmt


def test_with_several_objectives_the_improvement_is_the_first_objectives_against_the_best_of_it(swept):
    """The report ranks by Pareto rank, then val_loss: rank 1 is the trial of the best val_loss, whatever its
    val_acc, and the header's improvement is val_loss's (README, "Reports": on the first metric)."""
    exp, _, report = swept
    (baseline,) = [t for t in report["trials"] if t["baseline"]]
    best = min(report["trials"], key=lambda t: t["values"][0])
    assert report["metrics"] == ["val_loss", "val_acc"] and report["trials"][0] is best
    assert baseline["metric"] == baseline["values"][0] and report["baseline"]["metric"] == baseline["values"][0]
    assert report["baseline"]["best"] == best["values"][0] and report["baseline"]["best_trial_id"] == best["trial_id"]
    assert report["baseline"]["improvement"] == pytest.approx(baseline["values"][0] - best["values"][0])
    line = f"baseline: trial {baseline['trial_id']}, val_loss {baseline['metric']:.4g}; best: trial {best['trial_id']}"
    assert line in tuning_here("report", str(exp)).stdout


def test_a_confirmation_reruns_its_configs_without_a_baseline_of_its_own(swept):
    """tuning confirm's sweep (the seed noise the report weighs the improvement against: tests/tuning/report/
    test_baseline.py) reruns only the configs it picked."""
    exp, _, report = swept
    sweep, picked = confirm_sweep(str(exp), 1, 2)
    assert sweep["search"]["baseline"] is False and parse_sweep(sweep).search.baseline is False
    assert [p["trial_id"] for p in picked] == [report["trials"][0]["trial_id"]]


def test_baseline_false_runs_none(ray_session, tmp_path, capsys):
    exp = run_sweep(parse_sweep(_tiny(num_samples=1, baseline=False)), storage=str(tmp_path), name="off")
    assert "baseline" not in capsys.readouterr().err
    assert _first_config(exp) != BASE, "TPE's own first proposal"
    assert "baseline" not in json.loads((exp / "environment.json").read_text())
    report = json.loads(tuning_here("report", str(exp), "--format", "json").stdout)
    assert "baseline" not in report and all("baseline" not in t for t in report["trials"])


def test_a_sweep_without_base_values_says_so_once_and_records_why(ray_session, tmp_path, capsys):
    """The synthetic objective's inputs (objective.x0, ...) have no base value: no baseline, said once, not an
    error, and the report says why."""
    exp = run_sweep(parse_sweep(branin_sweep({"name": "optuna"}, {"name": "fifo"}, 2)), str(tmp_path), "branin")
    err = capsys.readouterr().err
    assert err.count("baseline: none, objective.x0 has no base value") == 1, err
    why = json.loads((exp / "environment.json").read_text())["baseline"]
    assert why["config"] is None and why["reason"].startswith("objective.x0 has no base value")
    report = json.loads(tuning_here("report", str(exp), "--format", "json").stdout)
    assert report["baseline"] == {"trial_id": None, "reason": why["reason"]} and len(report["trials"]) == 2
    assert f"baseline: none ({why['reason']})" in tuning_here("report", str(exp)).stdout


def test_base_values_come_from_the_sweep_file_else_the_class_default():
    """A value the sweep gives; the default of the class whose argument it is, from its source (a nested
    class_path entry, a Hydra _target_ node) or imported (the Trainer's, behind a decorator); none otherwise."""
    tree = {
        "model": {
            "class_path": "tests.user_models.LinearClassifier",
            "init_args": {
                "width": 8,
                "head": {"class_path": "tests.user_models.LearningRateClassifier", "init_args": {}},
                "net": {"_target_": "tests.fault_models.LuckySeed", "width": 3},
            },
        },
        "trainer": {"max_epochs": 3},
    }
    assert base_value(tree, "model.width") == 8 and base_value(tree, "model.init_args.lr") == 0.01
    assert base_value(tree, "model.init_args.head.init_args.learning_rate") == 0.01
    assert base_value(tree, "model.init_args.net.quality") == 1.0
    assert base_value(tree, "trainer.max_epochs") == 3 and base_value(tree, "trainer.accumulate_grad_batches") == 1
    missing = base_value(tree, "model.init_args.head.init_args.nothing")
    assert missing is base_value(tree, "objective.x0") and missing is base_value(tree, "model.init_args.width.x")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"space": {"model.init_args.lr": {"loguniform": [0.01, 0.1]}}}, "the base value of model.init_args.lr, "),
        ({"space": {}}, "search.space is empty"),
        ({"searcher": {"name": "random"}, "scheduler": {"name": "pbt"}}, "pbt changes trials' values"),
        (
            {
                "searcher": {"name": "grid"},
                "space": {
                    "model.init_args.num_layers": {"choice": {1: {}, 2: {"model.init_args.dropout": {"grid": [0.1]}}}}
                },
            },
            "a grid over a conditional choice",
        ),
    ],
)
def test_no_baseline_where_no_trial_could_measure_the_base_configuration(change, reason):
    point, why = base_point(parse_sweep(_tiny(**change)))
    assert point is None and why.startswith(reason), why


def test_a_grid_starts_with_the_base_values_and_keeps_its_size():
    """Tune's variant generator would run a point fixing a grid entry in place of a whole pass: the grid lists the
    base values first instead, and the point holds only the other keys."""
    from ray.tune.search.variant_generator import generate_variants

    from tuning.sweep.space import to_param_space

    space = {"model.init_args.hidden_dim": {"grid": [8, 16]}, "model.init_args.lr": {"loguniform": [1e-4, 1e-2]}}
    first = first_in_search(parse_sweep(_tiny(searcher={"name": "random"}, space=space)).search, BASE)
    assert first.searcher.points_to_evaluate == [{"model.init_args.lr": 1e-3}]
    variants = [s["config"] for _, s in generate_variants({"config": to_param_space(first.space)})]
    assert [v["model.init_args.hidden_dim"] for v in variants] == [16, 8]
    choices = {"model.init_args.hidden_dim": {"choice": [8, 16]}, "model.init_args.num_layers": {"choice": [2, 1]}}
    point = {"model.init_args.hidden_dim": 16, "model.init_args.num_layers": 1}  # TINY_SWEEP's base
    grid = first_in_search(parse_sweep(_tiny(searcher={"name": "grid"}, space=choices)).search, point)
    ordered = [s["config"] for _, s in generate_variants({"config": to_param_space(grid.space, as_grid=True)})]
    assert ordered[0] == point and len(ordered) == 4 and grid.searcher.points_to_evaluate == []


def test_a_users_point_of_the_base_configuration_is_the_baseline():
    """Listed among points_to_evaluate (twice here), the base configuration moves first and runs as often as
    listed: the baseline is one of them, not one more."""
    other = {"model.init_args.lr": 0.02, "model.init_args.hidden_dim": 8}
    search = parse_sweep(_tiny(searcher={"name": "random", "points_to_evaluate": [other, BASE, BASE]})).search
    assert first_in_search(search, BASE).searcher.points_to_evaluate == [BASE, other, BASE]

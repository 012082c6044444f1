"""The Optuna study tells what `tuning report` tells: states, intermediate values, values at the scope, links."""

import optuna
import pytest

from tests.synthetic_sweeps import branin_sweep
from tuning.driver.resume import STUDY_FILE
from tuning.driver.tuner import run_sweep
from tuning.report.load import load_report
from tuning.sweep.config import parse_sweep


def study_by_tune_id(exp) -> dict:
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp / STUDY_FILE}")
    return {t.user_attrs["tune_trial_id"]: t for t in study.trials if "tune_trial_id" in t.user_attrs}


def test_trials_asha_stopped_are_pruned_and_every_epoch_is_an_intermediate_value(ray_session, tmp_path):
    sweep = branin_sweep(
        {"name": "optuna", "seed": 0},
        {"name": "asha", "grace_period": 1, "reduction_factor": 2},
        num_samples=8,
        iterations=4,
    )
    exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path))
    report, study = load_report(str(exp)), study_by_tune_id(exp)
    assert sorted(study) == sorted(t.trial_id for t in report.trials), "every Tune trial is one study trial"
    states = {"completed": optuna.trial.TrialState.COMPLETE, "stopped_early": optuna.trial.TrialState.PRUNED}
    for trial in report.trials:
        mirrored = study[trial.trial_id]
        assert mirrored.state == states[trial.status], trial.trial_id
        assert sorted(mirrored.intermediate_values) == list(range(1, trial.iterations + 1)), "the last epoch too"
        assert mirrored.user_attrs["experiment"] == str(exp)
        if trial.status == "completed":
            assert mirrored.value == pytest.approx(trial.metric)
    assert {t.status for t in report.trials} == {"completed", "stopped_early"}


@pytest.mark.parametrize("scope", ["best", "last"])
def test_the_sweeps_scope_decides_what_the_study_learns_and_how_the_report_ranks(ray_session, tmp_path, scope):
    sweep = branin_sweep({"name": "optuna", "seed": 1}, {"name": "fifo"}, num_samples=4, iterations=5)
    sweep["objective"]["noise"] = 5.0  # values bounce between iterations: the best is not always the last
    sweep["search"]["scope"] = scope
    exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path))
    report, study = load_report(str(exp)), study_by_tune_id(exp)
    assert report.scope == scope
    differ = 0
    for trial in report.trials:
        steps = study[trial.trial_id].intermediate_values
        best, last = min(steps.values()), steps[max(steps)]
        differ += best != last
        assert study[trial.trial_id].value == pytest.approx(best if scope == "best" else last)
        assert trial.metric == pytest.approx(study[trial.trial_id].value), "report and study agree"
    assert differ, "no trial whose best epoch is not its last: the test would not tell the scopes apart"
    assert load_report(str(exp), scope="last" if scope == "best" else "best").scope != scope, "--scope overrides"

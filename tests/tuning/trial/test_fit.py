"""When a trial reports (tuning/trial/fit.py): per epoch, per validation, and at a budget of steps; and the
report tells a Trainer that ran its budget from a scheduler's stop."""

import optuna
import pytest
import torch

from tuning.driver.resume import STUDY_FILE
from tuning.driver.tuner import run_sweep
from tuning.report.load import load_report
from tuning.sweep.config import parse_sweep


def _one_trial(tmp_path, tiny_sweep, name, **trainer):
    tiny_sweep["trainer"].update(trainer)
    tiny_sweep["search"].update(num_samples=1, scheduler={"name": "fifo"})
    exp = run_sweep(parse_sweep(tiny_sweep), storage=str(tmp_path), name=name)
    report = load_report(str(exp))
    [trial] = report.trials
    [studied] = optuna.load_study(study_name=None, storage=f"sqlite:///{exp / STUDY_FILE}").trials
    assert studied.state == optuna.trial.TrialState.COMPLETE  # as the report says: it ran its whole budget
    return exp, trial, [r["val_loss"] for r in report.results]


@pytest.mark.parametrize(
    "trainer,reports",
    [({"val_check_interval": 0.5, "max_epochs": 2}, 4), ({"check_val_every_n_epoch": 2, "max_epochs": 4}, 2)],
    ids=["twice-an-epoch", "every-second-epoch"],
)
def test_a_trial_reports_once_per_validation(ray_session, tmp_path, tiny_sweep, trainer, reports):
    _, trial, losses = _one_trial(tmp_path, tiny_sweep, "val", **trainer)
    assert trial.iterations == reports and len(set(losses)) == reports  # each report a new validation
    assert trial.status == "completed"  # fewer reports than epochs, yet it ran its whole budget


def test_max_steps_ends_the_trial_without_a_stale_report(ray_session, tmp_path, tiny_sweep):
    # digits in batches of 128 make 10 steps an epoch: 15 steps end inside epoch 2, which Lightning ends
    # without validating.
    exp, trial, losses = _one_trial(tmp_path, tiny_sweep, "steps", max_steps=15, max_epochs=5)
    assert trial.status == "completed" and trial.iterations == 1 and len(losses) == 1
    [checkpoint] = exp.glob("trial_*/checkpoint_*/checkpoint.ckpt")
    steps = torch.load(checkpoint, weights_only=False, map_location="cpu")["global_step"]  # at epoch 1's end
    assert steps < 15 < 2 * steps


def test_max_time_ends_the_trial_completed_without_a_stale_report(ray_session, tmp_path, tiny_sweep):
    """`max_time` of 6 s and 50 epochs; the model's second epoch starts by waiting until that budget has run out
    (tests.fault_models.OutlastsItsTime): the Trainer ends the trial at that epoch's first batch, mid-epoch, validates
    what it has and stops. Each report is a new validation, the last one ended by the trainer; the trial is
    completed, with two reports however fast or slow the machine is."""
    from tuning.report.load import read_results

    tiny_sweep["model"] = {"class_path": "tests.fault_models.OutlastsItsTime", "init_args": {}}
    tiny_sweep["search"]["space"] = {"model.init_args.lr": {"loguniform": [1e-3, 1e-1]}}
    exp, trial, losses = _one_trial(tmp_path, tiny_sweep, "time", max_time="00:00:00:06", max_epochs=50)
    assert trial.status == "completed" and trial.iterations == 2 and len(set(losses)) == 2, (trial, losses)
    [result] = exp.glob("trial_*/result.json")
    rows = read_results(result)
    assert [r["training_iteration"] for r in rows] == [1, 2] and rows[-1]["ended_by"] == "trainer", rows

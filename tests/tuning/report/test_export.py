"""`tuning export` of a real sweep: the trial `--scope` ranks first, its config's model, data and trainer sections."""

import pytest
import torch
import yaml

from tests.in_process import tuning_here
from tuning.driver.tuner import run_sweep
from tuning.report.load import load_report
from tuning.sweep.config import parse_sweep

# Two trials whose order flips with the scope: A is best at its best epoch (1.0), B at its last (2.5 < 3.0).
A = {
    "model.init_args.first": 1.0,
    "model.init_args.last": 3.0,
    "data.init_args.batch_size": 64,
    "trainer.gradient_clip_val": 0.5,
}
B = {
    "model.init_args.first": 2.0,
    "model.init_args.last": 2.5,
    "data.init_args.batch_size": 128,
    "trainer.gradient_clip_val": 1.0,
}


@pytest.fixture(scope="module")
def experiment(ray_session, tmp_path_factory):
    """A and B, run for 2 epochs; the space spans the model, data and trainer sections."""
    sweep = {
        "name": "scoped",
        "model": {"class_path": "tests.fault_models.FirstAndLast", "init_args": {"width": 64}},
        "data": {"class_path": "digits", "init_args": {"batch_size": 32}},
        "trainer": {"max_epochs": 2, "accelerator": "cpu"},
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "num_samples": 2,
            "space": {
                "model.init_args.first": {"uniform": [0.5, 2.5]},
                "model.init_args.last": {"uniform": [2.0, 3.5]},
                "data.init_args.batch_size": {"choice": [64, 128]},
                "trainer.gradient_clip_val": {"uniform": [0.5, 1.0]},
            },
            "searcher": {"name": "random", "points_to_evaluate": [A, B]},
            "scheduler": {"name": "fifo"},
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0},
    }
    return run_sweep(parse_sweep(sweep), storage=str(tmp_path_factory.mktemp("export")))


@pytest.mark.parametrize("scope, params, value, epoch", [("best", A, 1.0, 1), ("last", B, 2.5, 2)])
def test_export_scope_picks_the_trial_it_ranks_first_with_its_data_and_trainer(
    experiment, tmp_path, scope, params, value, epoch
):
    """`--scope best` exports A, `--scope last` B; each config carries the trial's own values in the model, data
    and trainer sections (the sweep's other settings kept), and its checkpoint was trained with that data."""
    (trial,) = [t for t in load_report(str(experiment)).trials if t.config == params]
    out = tmp_path / scope
    result = tuning_here("export", str(experiment), "--scope", scope, "--output", str(out))
    assert result.returncode == 0, result.stderr
    header, body = (out / "config.yaml").read_text().split("\n", 1)
    assert header.startswith(f"# trial {trial.trial_id} of ") and f"val_loss {value} at epoch {epoch}" in header
    config = yaml.safe_load(body)
    assert config["model"] == {
        "class_path": "tests.fault_models.FirstAndLast",
        "init_args": {"width": 64, "first": params["model.init_args.first"], "last": params["model.init_args.last"]},
    }
    assert config["data"] == {
        "class_path": "tuning.data.digits.DigitsDataModule",
        "init_args": {"batch_size": params["data.init_args.batch_size"]},
    }
    assert config["trainer"] == {
        "max_epochs": 2,
        "accelerator": "cpu",
        "gradient_clip_val": params["trainer.gradient_clip_val"],
    }
    checkpoint = torch.load(out / "checkpoint.ckpt", weights_only=False)
    assert checkpoint["datamodule_hyper_parameters"]["batch_size"] == params["data.init_args.batch_size"]
    assert checkpoint["hyper_parameters"]["first"] == params["model.init_args.first"]


def running_best(storage, scheduler: dict, **search) -> str:
    """One RunningBest trial of 4 epochs, keep_checkpoints 1: val/acc_best 0.5, 0.8, 0.8, 0.8 and val/loss
    3, 2, 1, 4 (tests.user_models)."""
    sweep = {
        "name": "ties",
        "model": {"class_path": "tests.user_models.RunningBest", "init_args": {"width": 64}},
        "data": {"class_path": "digits", "init_args": {"batch_size": 256}},
        "trainer": {"max_epochs": 4, "accelerator": "cpu"},
        "search": {
            "metric": "val/acc_best",
            "mode": "max",
            "num_samples": 1,
            "space": {"model.init_args.lr": {"choice": [0.05]}},
            "searcher": {"name": "random"},
            "scheduler": scheduler,
            **search,
        },
        "resources": {"cpu": 1, "max_concurrent": 1},
        "run": {"seed": 0, "keep_checkpoints": 1},
    }
    return str(run_sweep(parse_sweep(sweep), storage=str(storage)))


def exported(experiment: str, out, *args: str) -> tuple[str, int, str]:
    """`tuning export`'s header line, the epoch its checkpoint holds (counted from 1, as the report counts)
    and its stderr."""
    result = tuning_here("export", experiment, "--output", str(out), *args)
    assert result.returncode == 0, result.stderr
    header = (out / "config.yaml").read_text().split("\n", 1)[0]
    return header, torch.load(out / "checkpoint.ckpt", weights_only=False)["epoch"] + 1, result.stderr


@pytest.mark.parametrize(
    "scheduler", [{"name": "asha", "grace_period": 1, "reduction_factor": 2}, {"name": "fifo"}], ids=["asha", "fifo"]
)
def test_a_metric_that_ties_across_epochs_exports_the_epoch_the_report_ranks(ray_session, tmp_path, scheduler):
    """The report ranks epoch 2, the earliest at val/acc_best's best; Tune keeps it over the later ties, and the
    export gives it (not epoch 4's model, a different one at the same value). `--scope last`: epoch 4."""
    experiment = running_best(tmp_path / "runs", scheduler)
    for scope, epoch in (("best", 2), ("last", 4)):
        header, saved_epoch, stderr = exported(experiment, tmp_path / scope, "--scope", scope)
        assert saved_epoch == epoch, (scope, header)
        assert f"at epoch {epoch} (checkpoint of epoch {epoch}: " in header and "not kept" not in stderr, header
        [trial] = load_report(experiment, scope=scope).trials
        assert (trial.epoch, trial.checkpoint_epoch) == (epoch, epoch)
        assert trial.checkpoint in header  # the report names the checkpoint the export gives


def test_a_ranked_epoch_tune_did_not_keep_is_named_with_the_epoch_exported_instead(ray_session, tmp_path):
    """Tune ranks checkpoints by ASHA's metric, val/loss (best at epoch 3): with keep_checkpoints 1 it keeps
    epochs 3 and 4 (the latest), not 2, where the report ranks val/acc_best. The export gives epoch 3, the best
    kept by val/acc_best, and says so on stderr and in its header."""
    experiment = running_best(
        tmp_path / "runs",
        {"name": "asha", "metric": "val/loss"},
        metric=["val/acc_best", "val/loss"],
        mode=["max", "min"],
    )
    header, saved_epoch, stderr = exported(experiment, tmp_path / "out")
    [trial] = load_report(experiment).trials
    notice = f"epoch 2's checkpoint of trial {trial.trial_id} was not kept (run.keep_checkpoints: 1); this is epoch 3's"
    assert saved_epoch == 3 and notice in header and f"tuning export: {notice}" in stderr, (header, stderr)
    assert (trial.epoch, trial.checkpoint_epoch) == (2, 3)

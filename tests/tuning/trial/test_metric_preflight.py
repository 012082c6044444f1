"""The metric contract is checked in the driver before any trial starts, on a couple of real batches."""


import pytest
import yaml

from tuning.cli.commands import main
from tuning.config import parse_sweep
from tuning.errors import UserError
from tuning.trial.preflight import check_metric


def test_a_logged_epoch_metric_passes(tiny_sweep):
    tiny_sweep["search"]["metric"] = "val_acc"
    check_metric(parse_sweep(tiny_sweep))


def test_a_missing_metric_is_named_with_the_logged_ones(tiny_sweep):
    tiny_sweep["search"]["metric"] = "valid/mse"
    with pytest.raises(UserError) as err:
        check_metric(parse_sweep(tiny_sweep))
    message = str(err.value)
    assert message.startswith("search.metric: 'valid/mse' is not logged at epoch level")
    assert "it logs: train_loss, val_acc, val_loss" in message


def test_a_slashed_metric_name_that_is_logged_passes(tiny_sweep):
    tiny_sweep["model"]["class_path"] = "tests.user_callbacks.ScheduledClassifier"
    tiny_sweep["search"]["metric"] = "valid/loss"
    check_metric(parse_sweep(tiny_sweep))


def test_a_model_that_logs_nothing_exits_2_before_any_trial_writing_nothing(tiny_sweep, tmp_path, capsys):
    tiny_sweep["model"] = {"class_path": "tests.user_callbacks.SilentClassifier"}
    tiny_sweep["search"]["space"] = {}
    path = tmp_path / "silent.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    assert main(["run", str(path), "--storage", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "search.metric: 'val_loss' is not logged at epoch level" in err and "it logs: nothing at all" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs" / "tiny").exists(), "the preflight runs before the experiment is created"

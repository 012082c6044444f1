"""The metric contract is checked in the driver before any trial starts, on a couple of real batches."""

import pytest
import yaml

from tuning.cli.commands import main
from tuning.errors import UserError
from tuning.sweep.config import parse_sweep
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


def _placement_groups() -> set:
    """The ids of every placement group Ray's GCS knows (removed ones too); none before Ray starts."""
    import ray

    return set(ray.util.placement_group_table()) if ray.is_initialized() else set()


def test_a_model_that_logs_nothing_exits_2_before_any_trial_writing_nothing(
    ray_session, restore_environ, tiny_sweep, tmp_path, capsys
):
    """`tuning run` refuses the sweep in the driver: Ray (which the driver starts before the check, so the
    workers import Lightning meanwhile; here the test session's) was never asked to place a trial, and no
    experiment was written."""
    tiny_sweep["model"] = {"class_path": "tests.user_callbacks.SilentClassifier"}
    # A space the searcher can sample: only the metric check stands between this sweep and its trials.
    tiny_sweep["search"]["space"] = {"data.init_args.batch_size": {"choice": [64, 128]}}
    path = tmp_path / "silent.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    before = _placement_groups()  # this process may hold the test session's Ray already
    code = main(["run", str(path), "--storage", str(tmp_path / "runs")])
    assert not _placement_groups() - before, "a trial's placement group was created: Tune started trials"
    assert code == 2
    err = capsys.readouterr().err
    assert "search.metric: 'val_loss' is not logged at epoch level" in err and "it logs: nothing at all" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs" / "tiny").exists(), "the preflight runs before the experiment is created"


def test_every_objective_of_a_multi_objective_sweep_must_be_logged(tiny_sweep):
    tiny_sweep["search"].update(metric=["val_loss", "valid/f1"], mode=["min", "max"], scheduler={"name": "fifo"})
    with pytest.raises(UserError, match=r"^search.metric: 'valid/f1' is not logged at epoch level"):
        check_metric(parse_sweep(tiny_sweep))

"""Sweep checks of trainer.callbacks, trainer.profiler, trial.* and DDP resources: errors name the key path."""

import json

import pytest

from tuning.classes import check_classes
from tuning.config import parse_sweep
from tuning.errors import UserError


def _check(sweep):
    check_classes(parse_sweep(sweep))


def test_callback_shape_and_profiler_errors_name_the_key(tiny_sweep):
    tiny_sweep["trainer"].update(profiler="fast", callbacks=[{"class_path": "EarlyStopping", "args": {}}, {}])
    with pytest.raises(UserError) as err:
        parse_sweep(tiny_sweep)
    message = str(err.value)
    assert "trainer.profiler: must be one of simple, advanced, pytorch" in message
    assert "trainer.callbacks[0]: allowed keys: class_path, init_args" in message
    assert "trainer.callbacks[1].class_path: required" in message


def test_unknown_callback_and_bad_init_args(tiny_sweep):
    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "LearningRateMonitr"}]
    with pytest.raises(UserError, match=r"trainer.callbacks\[0\].class_path: 'LearningRateMonitr' is not a Lightning "
                                        r"callback \(did you mean 'LearningRateMonitor'\?\)"):
        _check(tiny_sweep)
    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "LearningRateMonitor", "init_args": {"interval": "epoch"}}]
    with pytest.raises(UserError, match=r"trainer.callbacks\[0\].init_args.interval: LearningRateMonitor has no "
                                        "argument 'interval'"):
        _check(tiny_sweep)
    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "tests.user_models.LinearClassifier", "init_args": {}}]
    with pytest.raises(UserError, match=r"trainer.callbacks\[0\].class_path: .* is not a Lightning Callback"):
        _check(tiny_sweep)


def test_valid_callbacks_and_trial_options_pass(tiny_sweep):
    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "tests.user_callbacks.RecordTrainerOptions",
                                           "init_args": {"filename": "x.json"}}]
    tiny_sweep["trial"] = {"early_stopping": {"patience": 2}, "auto_batch_size": True, "batch_size_mode": "binsearch"}
    cfg = parse_sweep(tiny_sweep)
    check_classes(cfg)
    assert cfg.trial.early_stopping.monitor is None and cfg.to_dict()["trial"]["batch_size_mode"] == "binsearch"


def test_trial_section_errors_name_the_key(tiny_sweep):
    tiny_sweep["trial"] = {"early_stopping": {"patience": 0, "mode": "up"}, "auto_batchsize": True}
    with pytest.raises(UserError) as err:
        parse_sweep(tiny_sweep)
    message = str(err.value)
    assert "trial.early_stopping.patience" in message and "trial.early_stopping.mode" in message
    assert "trial.auto_batchsize: unknown key (did you mean 'auto_batch_size'?)" in message


def test_ddp_resource_rules(tiny_sweep):
    tiny_sweep["resources"].update(gpu=2)
    with pytest.raises(UserError, match="resources.gpu: 2.0 GPUs for one worker; .* set resources.workers: 2"):
        _check(tiny_sweep)
    tiny_sweep["resources"].update(gpu=0, workers=2)
    tiny_sweep["trainer"]["strategy"] = "ddp"
    with pytest.raises(UserError, match="trainer.strategy: set by tuning when resources.workers > 1"):
        _check(tiny_sweep)


@pytest.mark.parametrize("profiler, name, marker", [("advanced", "AdvancedProfiler", "ncalls"),
                                                    ("pytorch", "PyTorchProfiler", "Self CPU")])
def test_the_advanced_and_pytorch_profilers_report_in_the_trial_directory(ray_session, tmp_path, tiny_sweep, profiler,
                                                                          name, marker):
    """`trainer.profiler: advanced | pytorch` in a real trial: Lightning's report of that profiler (cProfile's
    table; torch's op table) in fit-profile.txt, and profile_summary.json built from its own records."""
    from tuning.run.driver import run_sweep

    tiny_sweep["trainer"].update(profiler=profiler, max_epochs=1, limit_train_batches=6, limit_val_batches=2)
    tiny_sweep["search"].update(num_samples=1, scheduler={"name": "fifo"})
    exp = run_sweep(parse_sweep(tiny_sweep), storage=str(tmp_path), name=profiler)
    [trial_dir] = exp.glob("trial_*")
    assert marker in (trial_dir / "fit-profile.txt").read_text()
    summary = json.loads((trial_dir / "profile_summary.json").read_text())
    assert summary["profiler"] == name and summary["slowest"] and summary["slowest"][0]["total_s"] > 0
    assert summary["bottleneck"] in {"data loading", "training", "validation", "setup", "unknown"}

"""Sweep checks of trainer.callbacks, trainer.profiler, trial.* and DDP resources: errors name the key path."""

import json

import pytest

from tuning.errors import UserError
from tuning.sweep.classes import check_classes
from tuning.sweep.config import parse_sweep


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
    with pytest.raises(
        UserError,
        match=r"trainer.callbacks\[0\].class_path: 'LearningRateMonitr' is not a Lightning "
        r"callback \(did you mean 'LearningRateMonitor'\?\)",
    ):
        _check(tiny_sweep)
    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "LearningRateMonitor", "init_args": {"interval": "epoch"}}]
    with pytest.raises(
        UserError,
        match=r"trainer.callbacks\[0\].init_args.interval: LearningRateMonitor has no "
        "argument 'interval'",
    ):
        _check(tiny_sweep)
    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "tests.user_models.LinearClassifier", "init_args": {}}]
    with pytest.raises(UserError, match=r"trainer.callbacks\[0\].class_path: .* is not a Lightning Callback"):
        _check(tiny_sweep)


def test_valid_callbacks_and_trial_options_pass(tiny_sweep):
    tiny_sweep["trainer"]["callbacks"] = [
        {"class_path": "tests.user_callbacks.RecordTrainerOptions", "init_args": {"filename": "x.json"}}
    ]
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


@pytest.fixture(scope="module")
def profiled(ray_session, tmp_path_factory):
    """One real sweep of two trials, one per profiler (advanced, pytorch), with the Lightning + Hydra template's
    RichProgressBar and a callback recording the Trainer's: (experiment, {profiler: trial directory}, stderr)."""
    import contextlib
    import copy
    import io

    from tests.conftest import TINY_SWEEP
    from tuning.driver.tuner import run_sweep

    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["trainer"].update(
        max_epochs=1,
        limit_train_batches=6,
        limit_val_batches=2,
        callbacks=[
            {"class_path": "RichProgressBar"},
            {"class_path": "tests.user_callbacks.RecordTrainerOptions", "init_args": {"filename": "options.json"}},
        ],
    )
    sweep["search"].update(
        num_samples=1,
        space={"trainer.profiler": {"grid": ["advanced", "pytorch"]}},
        searcher={"name": "grid"},
        scheduler={"name": "fifo"},
    )
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path_factory.mktemp("profiled")), name="profiled")
    trials = {json.loads((d / "trial.json").read_text())["params"]["trainer.profiler"]: d for d in exp.glob("trial_*")}
    return exp, trials, err.getvalue()


def test_the_advanced_and_pytorch_profilers_report_in_the_trial_directory(profiled):
    """`trainer.profiler: advanced | pytorch` in a real trial: Lightning's report of that profiler (cProfile's
    table; torch's op table) in fit-profile.txt, and profile_summary.json built from its own records."""
    _, trials, _ = profiled
    assert sorted(trials) == ["advanced", "pytorch"]
    for profiler, name, marker in [
        ("advanced", "AdvancedProfiler", "ncalls"),
        ("pytorch", "PyTorchProfiler", "Self CPU"),
    ]:
        trial_dir = trials[profiler]
        assert marker in (trial_dir / "fit-profile.txt").read_text(), profiler
        summary = json.loads((trial_dir / "profile_summary.json").read_text())
        assert summary["profiler"] == name and summary["slowest"] and summary["slowest"][0]["total_s"] > 0, profiler
        assert summary["bottleneck"] in {"data loading", "training", "validation", "setup", "unknown"}, profiler


def test_a_progress_bar_is_dropped_from_the_trials_with_one_notice(profiled):
    """The Lightning + Hydra template's RichProgressBar in a real sweep: the driver says once, before the sweep, that
    it is dropped; the trials run without it (every trial errored on it before: enable_progress_bar=False)."""
    from tuning.report.load import load_report

    exp, trials, err = profiled
    assert err.count("trainer.callbacks[0] (RichProgressBar): dropped, trials run without a progress bar") == 1
    # Both complete: the report written at the last validation tore the advanced profiler down inside Lightning's
    # open run_training_epoch action, which then errored its trial (tuning.trial.callbacks.make_profiler).
    status = {t.config["trainer.profiler"]: t.status for t in load_report(str(exp)).trials}
    assert status == {"advanced": "completed", "pytorch": "completed"}, status
    for trial_dir in trials.values():
        callbacks = json.loads((trial_dir / "options.json").read_text())["callbacks"]
        assert "RecordTrainerOptions" in callbacks and not any("ProgressBar" in c for c in callbacks)


@pytest.mark.parametrize("dist", ["lightning.pytorch", "pytorch_lightning"])
def test_progress_bars_of_either_distribution_are_left_out_of_a_trials_callbacks(dist, tiny_sweep):
    """Any ProgressBar subclass (bare names resolve in the sweep's distribution); the rest are built, and the
    distribution's Trainer takes them with enable_progress_bar=False, as a trial's does."""
    import importlib

    from tuning.trial.callbacks import build_callbacks, check_trial_callbacks

    pl = importlib.import_module(dist)
    trainer = {
        "callbacks": [
            {"class_path": "TQDMProgressBar", "init_args": {"refresh_rate": 5}},
            {"class_path": "LearningRateMonitor"},
            {"class_path": f"{dist}.callbacks.RichProgressBar"},
        ]
    }
    built = build_callbacks(dist, trainer, {}, {"metric": "val_loss", "mode": "min"})
    assert [type(c) for c in built] == [pl.callbacks.LearningRateMonitor]
    pl.Trainer(callbacks=built, enable_progress_bar=False, logger=False, enable_checkpointing=False)
    tiny_sweep["trainer"].update(trainer)
    assert check_trial_callbacks(parse_sweep(tiny_sweep), dist).startswith(
        "trainer.callbacks[0] (TQDMProgressBar), trainer.callbacks[2] (RichProgressBar): dropped"
    )
    tiny_sweep["trainer"]["callbacks"] = trainer["callbacks"][1:2]
    assert check_trial_callbacks(parse_sweep(tiny_sweep), dist) is None


def test_an_early_stopping_on_the_trials_own_metric_is_refused_before_anything_starts(
    ray_session, tmp_path, tiny_sweep
):
    """A user's EarlyStopping on the metric and mode of trial.early_stopping: Lightning refuses two callbacks with one
    checkpoint state, so every trial failed; now exit 2 naming it, with no experiment written. On another metric both
    run; an init_args value Lightning refuses is exit 2 too."""
    from tuning.driver.tuner import run_sweep
    from tuning.trial.preflight import prepare

    tiny_sweep["trial"] = {"early_stopping": {"patience": 2}}
    tiny_sweep["trainer"]["callbacks"] = [
        {"class_path": "LearningRateMonitor"},
        {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss"}},
    ]
    with pytest.raises(
        UserError,
        match=r"trainer.callbacks\[1\]: EarlyStopping keeps its checkpoint state under the "
        r"same key as trial.early_stopping",
    ):
        run_sweep(parse_sweep(tiny_sweep), storage=str(tmp_path), name="twice")
    assert not (tmp_path / "twice").exists()
    tiny_sweep["trainer"]["callbacks"][1]["init_args"] = {"monitor": "val_acc", "mode": "max"}
    assert prepare(parse_sweep(tiny_sweep), metric=False) == "lightning.pytorch"
    tiny_sweep["trainer"]["callbacks"][1]["init_args"]["mode"] = "up"
    with pytest.raises(
        UserError,
        match=r"trainer.callbacks\[1\]: EarlyStopping\(\*\*trainer.callbacks\[1\].init_args\) "
        r"raised .*`mode` can be",
    ):
        prepare(parse_sweep(tiny_sweep), metric=False)


@pytest.mark.parametrize(
    "callback, instead",
    [
        ("LearningRateFinder", "tuning find-lr"),
        ("pytorch_lightning.callbacks.BatchSizeFinder", "trial.auto_batch_size"),
    ],
)
def test_lightnings_finders_are_refused_naming_the_callback_and_why(callback, instead, tiny_sweep):
    """They overwrite what each trial samples and break a restored trial's epoch count: exit 2, read from source
    (tuning validate) and imported (tuning run) alike."""
    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "ModelSummary"}, {"class_path": callback}]
    for static in (True, False):
        with pytest.raises(
            UserError,
            match=rf"trainer.callbacks\[1\]: {callback.split('.')[-1]} cannot run inside a "
            rf"trial: .*restored from its checkpoint.*{instead}",
        ):
            check_classes(parse_sweep(tiny_sweep), static=static)

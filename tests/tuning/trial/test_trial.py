"""The trial worker inside real sweeps: Trainer options, callbacks, early stopping, profiling,
checkpoint restore, metric averaging, TensorBoard and reproducibility."""

import json
import math

import pytest
import torch

from tuning.driver.tuner import run_sweep
from tuning.report.load import load_report, read_results
from tuning.sweep.config import parse_sweep

CALLBACKS = "tests.user_callbacks."


def _sweep(tiny_sweep: dict) -> dict:
    """One trial of a module with an LR scheduler that crashes once after epoch 0 and is restored."""
    tiny_sweep["model"] = {
        "class_path": CALLBACKS + "ScheduledClassifier",
        "init_args": {"hidden_dim": 16, "num_layers": 1},
    }
    tiny_sweep["data"]["init_args"] = {"batch_size": 64}  # 359 validation samples: the last batch is partial
    tiny_sweep["trainer"] = {
        "max_epochs": 4,
        "accelerator": "cpu",
        "precision": "32-true",
        "deterministic": True,
        "gradient_clip_val": 0.5,
        "gradient_clip_algorithm": "value",
        "accumulate_grad_batches": 2,
        "limit_train_batches": 10,
        "profiler": "simple",
        "callbacks": [
            {"class_path": CALLBACKS + "RecordTrainerOptions", "init_args": {"filename": "options.json"}},
            {"class_path": CALLBACKS + "CaptureRestoredState"},
            {"class_path": CALLBACKS + "CrashOnceAfterFirstEpoch"},
            {"class_path": "LearningRateMonitor", "init_args": {"logging_interval": "epoch"}},
        ],
    }
    # val_loss rises or falls, never both: with mode max it stops after one epoch without a new high.
    tiny_sweep["trial"] = {"early_stopping": {"monitor": "val_loss", "mode": "max", "patience": 1}}
    tiny_sweep["search"].update(
        metric="valid/loss",
        num_samples=1,
        searcher={"name": "random", "seed": 3},
        space={"model.init_args.lr": {"loguniform": [1e-3, 1e-2]}},
        scheduler={"name": "fifo"},
    )
    tiny_sweep["run"].update(keep_checkpoints=5, max_failures=1)
    return tiny_sweep


@pytest.fixture(scope="module")
def restored(ray_session, tmp_path_factory):
    """The trial directory, its result rows and report of the one-trial sweep above."""
    import copy

    from tests.conftest import TINY_SWEEP

    exp = run_sweep(
        parse_sweep(_sweep(copy.deepcopy(TINY_SWEEP))), storage=str(tmp_path_factory.mktemp("runs")), name="restored"
    )
    (trial_dir,) = exp.glob("trial_*")
    return trial_dir, read_results(trial_dir / "result.json"), load_report(str(exp))


def test_trainer_options_and_user_callbacks_reach_the_trial(restored):
    trial_dir, rows, report = restored
    options = json.loads((trial_dir / "options.json").read_text())
    assert options["gradient_clip_val"] == 0.5 and options["gradient_clip_algorithm"] == "value"
    assert options["accumulate_grad_batches"] == 2 and options["limit_train_batches"] == 10
    assert options["max_epochs"] == 4 and options["precision"] == "32-true" and options["deterministic"]
    assert {"RecordTrainerOptions", "LearningRateMonitor", "EarlyStopping"} <= set(options["callbacks"])
    assert all("lr-AdamW" in row for row in rows), "LearningRateMonitor by bare name logs the LR"


def test_early_stopping_ends_the_trial_before_max_epochs(restored):
    trial_dir, rows, report = restored
    (trial,) = report.trials
    assert trial.status == "stopped_early" and trial.iterations == 2 < 4  # stopped by EarlyStopping, not Tune
    # The last checkpoint was taken after EarlyStopping's check (so a restore stops where this run did).
    last = torch.load(trial_dir / rows[-1]["checkpoint_dir_name"] / "checkpoint.ckpt", weights_only=False)
    (stopping,) = [v for k, v in last["callbacks"].items() if k.startswith("EarlyStopping")]
    assert stopping["wait_count"] == 1 and stopping["stopped_epoch"] == 1


def test_restore_from_tune_checkpoint_is_exact_and_continues_at_next_epoch(restored):
    trial_dir, rows, report = restored
    assert (trial_dir / "crashed_once").exists(), "the trial failed once and was retried"
    state = torch.load(trial_dir / "restored_state.pt", weights_only=False)
    assert state["ckpt_path"].endswith("checkpoint.ckpt")
    saved = torch.load(trial_dir / "checkpoint_000000" / "checkpoint.ckpt", weights_only=False)
    assert saved["state_dict"].keys() == state["state_dict"].keys()
    assert all(torch.equal(saved["state_dict"][k], state["state_dict"][k]) for k in saved["state_dict"])
    _assert_equal_nested(saved["optimizer_states"][0], state["optimizer"])
    assert saved["optimizer_states"][0]["state"], "AdamW moments were saved and restored"
    assert saved["lr_schedulers"][0] == state["lr_scheduler"]
    assert saved["global_step"] == state["global_step"] == 5  # 10 batches, 2 accumulated per step
    assert saved["epoch"] == 0 and state["epoch"] == 1, "resumes at the next epoch, not at epoch 0"
    assert rows[-1]["training_iteration"] == 2, "the restored trial's iterations continue from the checkpoint"
    # StepLR(gamma=0.5) steps once per epoch, also across the restore: epoch 1 runs at half the LR of epoch 0.
    assert rows[-1]["lr-AdamW"] == pytest.approx(state["lr_scheduler"]["_last_lr"][0])
    assert state["lr_scheduler"]["last_epoch"] == 1


def _assert_equal_nested(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_equal_nested(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_equal_nested(x, y)
    else:
        assert a == b


def test_reported_metric_is_the_whole_validation_set_in_one_pass(restored):
    from tests.user_callbacks import ScheduledClassifier
    from tuning.data.digits import DigitsDataModule

    trial_dir, rows, report = restored
    datamodule = DigitsDataModule(batch_size=64)
    datamodule.setup("fit")
    x, y = datamodule.datasets["val"].tensors
    assert len(y) % 64 != 0, "the last validation batch must be partial for this test to mean anything"
    row = rows[-1]  # the checkpoint reported with a row holds the weights that row was validated with
    checkpoint = trial_dir / row["checkpoint_dir_name"] / "checkpoint.ckpt"
    model = ScheduledClassifier.load_from_checkpoint(checkpoint).eval()
    with torch.no_grad():
        one_pass = torch.nn.functional.cross_entropy(model(x).double(), y).item()
    assert row["val_loss"] == pytest.approx(one_pass, abs=1e-6)
    assert row["valid/loss"] == pytest.approx(one_pass, abs=1e-6), "a metric name with a slash works"
    assert report.metric == "valid/loss" and report.trials[0].metric == min(r["valid/loss"] for r in rows)


def test_profiler_report_and_summary_in_the_trial_directory(restored):
    trial_dir, rows, report = restored
    from tuning.trial.callbacks import bottleneck

    text = (trial_dir / "fit-profile.txt").read_text()
    assert "Profiler Report" in text
    totals = {}  # Lightning's own table: | action | mean | calls | total | percent |
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 5 and cells[0] not in ("Action", "Total"):
            totals[cells[0]] = float(cells[3])
    summary = json.loads((trial_dir / "profile_summary.json").read_text())
    assert summary["profiler"] == "SimpleProfiler"
    assert summary["bottleneck"] == bottleneck(totals), "the part of the loop Lightning's report says dominates"
    slowest = [a["total_s"] for a in summary["slowest"]]
    assert slowest == sorted(slowest, reverse=True) and slowest[0] > 0
    for action in summary["slowest"]:  # written at the last validation, the report at the end of fit
        assert 0 < action["total_s"] <= totals[action["action"]] * 1.001 + 1e-5, action  # the report rounds
    assert any("run_training_batch" in a["action"] for a in summary["slowest"])


@pytest.mark.parametrize(
    "slow, part",
    [
        ("[_TrainingEpochLoop].train_dataloader_next", "data loading"),
        ("run_training_batch", "training"),
        ("[Strategy]SingleDeviceStrategy.validation_step", "validation"),
        ("[LightningDataModule]DigitsDataModule.setup", "setup"),
    ],
)
def test_the_profile_summary_names_the_part_given_the_most_time(tmp_path, slow, part):
    """On a SimpleProfiler holding known durations (Lightning's action names), the summary's bottleneck is the
    part one long extra call was added to, and each action's total and calls are the sum and count of its
    durations, slowest first, without the whole-epoch action."""
    from lightning.pytorch.profilers import SimpleProfiler

    from tuning.trial.callbacks import PROFILE_SUMMARY_FILE, write_profile_summary

    durations = {
        "[_TrainingEpochLoop].train_dataloader_next": [0.01] * 10,
        "run_training_batch": [0.02] * 10,
        "[Strategy]SingleDeviceStrategy.training_step": [0.018] * 10,  # inside run_training_batch
        "[Strategy]SingleDeviceStrategy.validation_step": [0.01] * 5,
        "[LightningDataModule]DigitsDataModule.setup": [0.04],
        "[LightningModule]MLPClassifier.on_train_batch_end": [0.001] * 10,
    }
    durations[slow] = durations[slow] + [1.0]
    durations["run_training_epoch"] = [sum(sum(d) for d in durations.values())]
    profiler = SimpleProfiler()
    profiler.recorded_durations.update(durations)
    write_profile_summary(profiler, str(tmp_path))
    summary = json.loads((tmp_path / PROFILE_SUMMARY_FILE).read_text())
    assert summary["profiler"] == "SimpleProfiler" and summary["bottleneck"] == part
    expected = sorted(
        ((a, round(sum(d), 6), len(d)) for a, d in durations.items() if a != "run_training_epoch"),
        key=lambda row: -row[1],
    )
    assert [(a["action"], a["total_s"], a["calls"]) for a in summary["slowest"]] == expected


def _run_twice(ray_session, tmp_path, tiny_sweep):
    tiny_sweep["search"].update(num_samples=2, scheduler={"name": "fifo"})
    tiny_sweep["trial"] = {"auto_batch_size": True}  # Lightning's scaler before each trial fits
    runs, exps = [], []
    for name in ("first", "second"):
        exps.append(run_sweep(parse_sweep(tiny_sweep), storage=str(tmp_path), name=name))
        runs.append(
            {
                d.name.split("_")[1]: (json.loads((d / "trial.json").read_text()), read_results(d / "result.json"))
                for d in sorted(exps[-1].glob("trial_*"))
            }
        )
    return runs, exps


@pytest.fixture(scope="module")
def twice(ray_session, tmp_path_factory):
    """The tiny sweep run twice with the same seeds."""
    import copy

    from tests.conftest import TINY_SWEEP

    return _run_twice(ray_session, tmp_path_factory.mktemp("twice"), copy.deepcopy(TINY_SWEEP))


def test_same_sweep_same_seeds_same_configs_and_metrics(twice):
    (first, second), _ = twice
    assert first.keys() == second.keys() and len(first) == 2
    for index in first:
        (info_a, rows_a), (info_b, rows_b) = first[index], second[index]
        assert info_a["params"] == info_b["params"] and info_a["seed"] == info_b["seed"]
        assert info_a["batch_size"] == info_b["batch_size"] > 128, "auto_batch_size scaled the batch up"
        assert [r["val_loss"] for r in rows_a] == [r["val_loss"] for r in rows_b]
        assert all(math.isfinite(r["val_loss"]) for r in rows_a)
    assert len({json.dumps(info["params"]) for info, _ in first.values()}) == 2, "trials differ from each other"


def test_tensorboard_holds_scalars_per_epoch_and_the_sampled_hparams(twice):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    _, (first, _) = twice
    runs = sorted(first.glob("trial_*/tensorboard"))
    assert len(runs) == 2
    for run in runs:
        events = EventAccumulator(str(run))
        events.Reload()
        assert len(events.Scalars("val_loss")) == 2, "one val_loss point per epoch"
        assert len({e.step for e in events.Scalars("val_loss")}) == 2
        content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        params = json.loads((run.parent / "trial.json").read_text())["params"]
        assert hparams["model.init_args.lr"].number_value == pytest.approx(params["model.init_args.lr"])
        assert hparams["model.init_args.hidden_dim"].number_value == params["model.init_args.hidden_dim"]
        experiment = plugin_data_pb2.HParamsPluginData.FromString(
            events.PluginTagToContent("hparams")["_hparams_/experiment"]
        ).experiment
        assert [m.name.tag for m in experiment.metric_infos] == ["val_loss"]

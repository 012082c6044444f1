"""Bounded disk: `run.keep_checkpoints: K` keeps each trial's K best checkpoints by the sweep metric."""

import torch

from tuning.driver.tuner import run_sweep
from tuning.report.load import load_report
from tuning.sweep.config import parse_sweep


def test_the_best_checkpoint_survives_and_later_worse_ones_go(ray_session, tmp_path, tiny_sweep):
    # val_loss by epoch: 3, 1, 2, 4 -> the best is epoch 2 (checkpoint_000001); the last is epoch 4.
    tiny_sweep["model"] = {"class_path": "tests.fault_models.ScriptedLoss", "init_args": {}}
    tiny_sweep["trainer"]["max_epochs"] = 4
    tiny_sweep["search"].update(
        num_samples=1,
        space={"model.init_args.lr": {"choice": [0.05]}},
        searcher={"name": "random"},
        scheduler={"name": "fifo"},
    )
    tiny_sweep["run"]["keep_checkpoints"] = 1
    exp_dir = run_sweep(parse_sweep(tiny_sweep), storage=str(tmp_path), name="kept")

    [trial_dir] = exp_dir.glob("trial_*")
    kept = sorted(p.name for p in trial_dir.glob("checkpoint_*"))
    assert "checkpoint_000001" in kept, kept  # the best, by the metric
    assert not {"checkpoint_000000", "checkpoint_000002"} & set(kept), kept  # worse and not the latest
    assert set(kept) <= {"checkpoint_000001", "checkpoint_000003"}  # Tune may keep the latest, for retries
    best = torch.load(trial_dir / "checkpoint_000001" / "checkpoint.ckpt", weights_only=False, map_location="cpu")
    assert best["epoch"] == 1
    [row] = load_report(str(exp_dir)).trials
    assert row.metric == 1.0 and row.checkpoint.endswith("checkpoint_000001")


def test_model_checkpoint_deletions_reach_the_storage_at_the_last_epoch_under_asha(ray_session, tmp_path, tiny_sweep):
    """ModelCheckpoint(save_top_k=1, save_last=True) keeps the last epoch's file and last.ckpt; the storage holds
    those two only. ASHA stops the trial at max_t as a result of its last report, so the epoch-2 file that
    ModelCheckpoint deleted at epoch 3 must be deleted from the storage before that report."""
    tiny_sweep["trainer"].update(
        max_epochs=3, callbacks=[{"class_path": "ModelCheckpoint", "init_args": {"save_top_k": 1, "save_last": True}}]
    )
    tiny_sweep["search"].update(
        num_samples=1,
        space={"model.init_args.lr": {"choice": [0.01]}},
        searcher={"name": "random"},
        scheduler={"name": "asha", "grace_period": 1, "reduction_factor": 2},
    )
    exp_dir = run_sweep(parse_sweep(tiny_sweep), storage=str(tmp_path), name="mirrored")

    [trial_dir] = exp_dir.glob("trial_*")
    files = sorted(p.name for p in trial_dir.rglob("*.ckpt") if not p.parent.name.startswith("checkpoint_"))
    assert len(files) == 2 and files[0].startswith("epoch=2-") and files[1] == "last.ckpt", files

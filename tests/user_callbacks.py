"""A user's own callbacks and modules for the trial-worker tests, resolved by dotted path like a user's."""

import json
import os

import lightning as L
import torch

from tuning.models.mlp import MLPClassifier


class RecordTrainerOptions(L.Callback):
    """Writes the Trainer options a trial actually got to `<trial dir>/<filename>`."""

    def __init__(self, filename: str = "trainer_options.json"):
        self.filename = filename

    def on_fit_start(self, trainer, pl_module):
        options = {
            "gradient_clip_val": trainer.gradient_clip_val,
            "gradient_clip_algorithm": trainer.gradient_clip_algorithm,
            "accumulate_grad_batches": trainer.accumulate_grad_batches,
            "limit_train_batches": trainer.limit_train_batches,
            "max_epochs": trainer.max_epochs,
            "precision": trainer.precision,
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "callbacks": [type(c).__name__ for c in trainer.callbacks],
        }
        with open(os.path.join(trainer.default_root_dir, self.filename), "w") as fh:
            json.dump(options, fh)


class CrashOnceAfterFirstEpoch(L.Callback):
    """Fails the trial once at the start of epoch 1 (a marker file remembers), so Tune restores it."""

    def on_train_epoch_start(self, trainer, pl_module):
        marker = os.path.join(trainer.default_root_dir, "crashed_once")
        if trainer.current_epoch == 1 and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("injected failure after the first epoch")


class CaptureRestoredState(L.Callback):
    """On a restored run, saves what Lightning restored (weights, optimizer, scheduler, epoch, step)."""

    def on_train_start(self, trainer, pl_module):
        if not trainer.ckpt_path:
            return
        state = {
            "ckpt_path": str(trainer.ckpt_path),
            "state_dict": pl_module.state_dict(),
            "optimizer": trainer.optimizers[0].state_dict(),
            "lr_scheduler": trainer.lr_scheduler_configs[0].scheduler.state_dict(),
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
        }
        torch.save(state, os.path.join(trainer.default_root_dir, "restored_state.pt"))


class ScheduledClassifier(MLPClassifier):
    """The MLP with an LR scheduler and its validation loss also logged under a slashed name."""

    def validation_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self(x), y)
        self.log("valid/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        super().validation_step(batch, batch_idx)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)}


class SilentClassifier(L.LightningModule):
    """Trains but logs nothing and has no learning rate: the preflight and the LR finder must say so."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(64, 10)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class SlowEpochs(L.Callback):
    """Sleeps `seconds` at the start of every epoch, so a test can act while a sweep is surely mid-run."""

    def __init__(self, seconds: float = 1.0):
        self.seconds = seconds

    def on_train_epoch_start(self, trainer, pl_module):
        import time

        time.sleep(self.seconds)

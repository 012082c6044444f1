"""User LightningModules that cause real faults inside a trial, for tests/tuning/driver/test_faults.py."""

import hashlib
import json
import os

import torch
from torch.nn import functional as F

from tests.user_models import LinearClassifier


class CrashOnce(LinearClassifier):
    """Kills its own worker process mid-epoch at `crash_epoch` (0-based), once: `marker` remembers it.

    Every epoch start is logged to `log` (pid, epoch, optimizer/LR-scheduler/RNG state) so a test can
    see where the retried process continued and with what state. Dropout and a shuffled loader make
    the random stream matter; SGD momentum and StepLR make optimizer and scheduler state matter.
    """

    def __init__(self, width: int = 64, lr: float = 0.05, crash_epoch: int = 2, marker: str = "", log: str = ""):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()
        self.dropout = torch.nn.Dropout(0.2)

    def training_step(self, batch, batch_idx):
        if (
            self.current_epoch == self.hparams.crash_epoch
            and batch_idx == 1
            and not os.path.exists(self.hparams.marker)
        ):
            open(self.hparams.marker, "w").close()
            os._exit(1)  # no cleanup, no exception: the worker is simply gone, as with an OOM kill
        x, y = batch
        return F.cross_entropy(self.layer(self.dropout(x)), y)

    def on_train_epoch_start(self):
        optimizer = self.trainer.optimizers[0]
        momentum = [s["momentum_buffer"] for s in optimizer.state.values() if s.get("momentum_buffer") is not None]
        entry = {
            "pid": os.getpid(),
            "epoch": self.current_epoch,
            "global_step": self.trainer.global_step,
            "momentum": float(sum(m.abs().sum() for m in momentum)) if momentum else 0.0,
            "lr": optimizer.param_groups[0]["lr"],
            "scheduler_epoch": self.trainer.lr_scheduler_configs[0].scheduler.last_epoch,
            "rng": hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest(),
            "weights": float(self.layer.weight.detach().abs().sum()),
        }
        with open(self.hparams.log, "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)}


def block_directory(path: str) -> None:
    """Make `path` a directory nothing can be written into; for root, which ignores permissions, a file."""
    os.makedirs(path, mode=0o555)
    os.chmod(path, 0o555)
    try:
        probe = os.path.join(path, ".probe")
        open(probe, "w").close()
        os.remove(probe)
    except OSError:
        return  # unwritable, as intended
    os.rmdir(path)
    with open(path, "w") as fh:
        fh.write("a file where the checkpoint directory should be\n")


class BlockedCheckpoint(LinearClassifier):
    """With `block: true`, and while the file `broken` exists, the storage directory for the trial's
    first checkpoint is unwritable.

    `experiment`: the experiment directory (the trial's own directory there holds its checkpoints;
    `get_trial_dir()` is a local staging copy that Tune syncs from).
    """

    def __init__(self, width: int = 64, lr: float = 0.05, block: bool = False, experiment: str = "", broken: str = ""):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def on_fit_start(self):
        from ray import tune

        if self.hparams.block and os.path.exists(self.hparams.broken):
            trial = os.path.basename(tune.get_context().get_trial_dir())
            block_directory(os.path.join(self.hparams.experiment, trial, "checkpoint_000000"))


class Slow(LinearClassifier):
    """Takes `seconds` per epoch, so a test can act while a trial is surely mid-run."""

    def __init__(self, width: int = 64, lr: float = 0.05, seconds: float = 1.0):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def on_train_epoch_start(self):
        import time

        time.sleep(self.hparams.seconds)


class ScriptedLoss(LinearClassifier):
    """Trains normally but reports `losses[epoch]` as val_loss, so a test knows which epoch is best."""

    def __init__(self, width: int = 64, lr: float = 0.05, losses: tuple = (3.0, 1.0, 2.0, 4.0)):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", float(self.hparams.losses[self.current_epoch]))


class MemoryCapped(LinearClassifier):
    """Runs out of memory, as torch's CPU allocator says it, on a training batch above `max_batch` samples: a
    machine whose memory holds `max_batch` samples, for the batch-size scaler to find."""

    def __init__(self, width: int = 64, lr: float = 0.05, max_batch: int = 300):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def training_step(self, batch, batch_idx):
        if len(batch[0]) > self.hparams.max_batch:
            raise RuntimeError(
                f"DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                f"{len(batch[0]) * 2**20} bytes. Error code 12 (Cannot allocate memory)"
            )
        return super().training_step(batch, batch_idx)


class FirstAndLast(LinearClassifier):
    """Trains normally but reports val_loss `first` at the first epoch and `last` after it: searchable scalars, so
    a sweep decides which trial is best by its best epoch and which by its last."""

    def __init__(self, width: int = 64, lr: float = 0.05, first: float = 1.0, last: float = 3.0):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", float(self.hparams.first if self.current_epoch == 0 else self.hparams.last))


class LuckySeed(LinearClassifier):
    """Reports val_loss `quality`, or 0.0 when the trial's seed is `lucky_seed`: a config that won by its seed."""

    def __init__(self, width: int = 64, lr: float = 0.05, quality: float = 1.0, lucky_seed: int = 0):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def validation_step(self, batch, batch_idx):
        lucky = int(os.environ["PL_GLOBAL_SEED"]) == self.hparams.lucky_seed  # set by seed_everything
        self.log("val_loss", 0.0 if lucky else float(self.hparams.quality))


class FailsOnSeed(LinearClassifier):
    """Trains normally, but raises as it starts when the trial's seed is `failing_seed`: a config that fails under
    one seed of several (a `tuning confirm` rerun that errors)."""

    def __init__(self, width: int = 64, lr: float = 0.05, failing_seed: int = 1):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def on_fit_start(self):
        seed = int(os.environ["PL_GLOBAL_SEED"])  # set by seed_everything
        if seed == self.hparams.failing_seed:
            raise RuntimeError(f"seed {seed} fails")


class OutlastsItsTime(LinearClassifier):
    """Epoch 0 trains as usual; every later epoch starts by waiting until the Trainer's `max_time` has run out
    (bounded by `limit` seconds), so the Trainer ends the trial at that epoch's first batch, mid-epoch, however
    fast or slow the machine is."""

    def __init__(self, width: int = 64, lr: float = 0.05, limit: float = 120.0):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def on_train_epoch_start(self):
        import time

        from lightning.pytorch.callbacks import Timer

        if self.current_epoch == 0:
            return
        [timer] = [c for c in self.trainer.callbacks if isinstance(c, Timer)]
        deadline = time.monotonic() + self.hparams.limit
        while timer.time_remaining() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)

"""A user's callback written against `pytorch_lightning`, as users wrote them when tuning's built-in models did too
(before they moved to `lightning.pytorch`): tests/make_old_experiment_pl.py made an experiment with it."""

import time

import pytorch_lightning as pl


class SlowEpochs(pl.Callback):
    """Sleeps `seconds` at the start of every epoch, so the maker can interrupt the sweep mid-run."""

    def __init__(self, seconds: float = 1.0):
        self.seconds = seconds

    def on_train_epoch_start(self, trainer, pl_module):
        time.sleep(self.seconds)

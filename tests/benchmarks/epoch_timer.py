"""The benchmarks' epoch timer: a Lightning callback, in a module of its own so that a driver which
names it by class path (tuning run) never imports Lightning to load the benchmark script."""

import json
import os
import resource
import time

import lightning.pytorch as pl


class EpochTimer(pl.Callback):
    """Appends each epoch's duration (train + validation) and the process's peak RSS to a JSON-lines file."""

    def __init__(self, path: str):
        self.path = path

    def on_train_epoch_start(self, trainer, pl_module):
        self.start = time.perf_counter()
        if trainer.current_epoch == 0:
            with open(self.path, "a") as fh:
                fh.write(json.dumps({"first_epoch_started": time.time()}) + "\n")

    def on_train_epoch_end(self, trainer, pl_module):  # validation ran already, the report comes after
        line = {
            "pid": os.getpid(),
            "seconds": time.perf_counter() - self.start,
            "ended": time.time(),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        with open(self.path, "a") as fh:
            fh.write(json.dumps(line) + "\n")

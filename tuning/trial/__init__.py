"""The worker side of a sweep: what runs inside a Tune trial (and in the driver's preflight).

trainable: Tune's entry point; fit: builds the DataModule, LightningModule and Trainer of one trial
and fits it, reporting each validation to Tune; ddp: the same across several workers; callbacks:
profiling and the user's callbacks; rng: seeding and the RNG state in checkpoints; pbt: PBT's
mutations kept in a checkpoint; preflight: the metric check and prepare_data before any trial;
finders: Lightning's learning-rate and batch-size finders. Imports only the bottom modules.
"""

from tuning.trial.ddp import driver_resources
from tuning.trial.finders import find_batch_size, find_lr
from tuning.trial.fit import trial_dirname
from tuning.trial.preflight import prepare
from tuning.trial.trainable import run_trial

__all__ = ["driver_resources", "find_batch_size", "find_lr", "prepare", "run_trial", "trial_dirname"]

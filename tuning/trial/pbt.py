"""Keeping a trial's own hyperparameters when it restores another trial's checkpoint (PBT's exploit).

After an exploit, Tune restarts the recipient with the donor's checkpoint and a mutated config. The
model is built from the mutated init args, but Lightning then restores the donor's optimizer and
LR-scheduler state, whose learning rate and other settings would silently undo the mutation.
This callback records the trial's params in every checkpoint; when a restored checkpoint was written
under other params, it re-applies the optimizer settings that this trial's config produces.
"""

from tuning.compat import lightning as lightning_compat
from tuning.sweep import flavour

PARAMS_KEY = "tuning_params"


def keep_mutated_hyperparameters(dist: str, params: dict):
    """A KeepMutatedHyperparameters callback of Lightning distribution `dist`."""
    return flavour.callback_class(KeepMutatedHyperparameters, dist)(params)


class KeepMutatedHyperparameters:
    """Re-applies the trial's configured optimizer settings after restoring a checkpoint of other params.

    A mixin: `keep_mutated_hyperparameters` makes it a Callback of the sweep's distribution.
    """

    def __init__(self, params: dict):
        self.params = dict(params)
        self.restored_params = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint[PARAMS_KEY] = self.params

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        self.restored_params = checkpoint.get(PARAMS_KEY)

    def on_train_start(self, trainer, pl_module):
        if self.restored_params is None or self.restored_params == self.params:
            return  # a trial resuming its own checkpoint keeps its optimizer state as saved
        fresh_optimizers, fresh_schedulers = _configured(flavour.of_object(pl_module), pl_module)
        for restored, fresh in zip(trainer.optimizers, fresh_optimizers):
            for group, fresh_group in zip(restored.param_groups, fresh.param_groups):
                group.update({k: v for k, v in fresh_group.items() if k != "params"})
        for config, fresh in zip(trainer.lr_scheduler_configs, fresh_schedulers):
            if hasattr(config.scheduler, "base_lrs") and hasattr(fresh, "base_lrs"):
                config.scheduler.base_lrs = list(fresh.base_lrs)
        self.restored_params = None


def _configured(dist: str, pl_module) -> tuple[list, list]:
    """The optimizers and schedulers `configure_optimizers` makes from the current hyperparameters."""
    return lightning_compat.init_optimizers(dist, pl_module)

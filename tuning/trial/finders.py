"""Lightning's learning-rate finder and batch-size scaler on a sweep's base config.

`tuning find-lr` / `tuning find-batch-size` run them in the driver process, on the model, data
and Trainer arguments of the sweep file without any sampled parameters; `trial.auto_batch_size`
runs the scaler inside each trial before it fits.
"""

import logging
import tempfile
from pathlib import Path

from tuning import flavour
from tuning.errors import UserError
from tuning.trial.preflight import prepare, scratch_trainer

def _batch_size(model, datamodule) -> int | None:
    """The batch size where Lightning's scaler looks for it: the model, its hparams, the datamodule, its hparams."""
    for holder in (model, datamodule):
        if hasattr(holder, "batch_size"):
            return getattr(holder, "batch_size")
        if "batch_size" in getattr(holder, "hparams", {}):
            return holder.hparams["batch_size"]
    return None


def scale_batch_size(dist: str, trainer_args: dict, model, datamodule, mode: str = "power") -> int:
    """Set the largest batch size that fits (Lightning's scaler) on the datamodule and return it."""
    Tuner = flavour.module(dist).tuner.Tuner

    # The scaler starts at the configured size. Lightning's first try runs on loaders built at the configured
    # size while it counts it as `init_val` (it loads the data before it sets the size): from its default of 2,
    # a configured size that does not fit was taken for 2 failing, and binsearch ended at 1.
    start = _batch_size(model, datamodule) or 2
    with tempfile.TemporaryDirectory() as root:
        tuner = Tuner(scratch_trainer(dist, trainer_args, root))
        found = tuner.scale_batch_size(model, datamodule=datamodule, mode=mode, init_val=start)
    if found is None:
        raise UserError("data.init_args.batch_size: the batch-size scaler found no batch size that fits")
    return int(found)


def _base(cfg):
    """(distribution, model, datamodule, Trainer arguments) of the sweep's base config, seeded by run.seed."""
    from tuning.classes import build

    dist = prepare(cfg, metric=False)
    logging.getLogger(dist).setLevel(logging.WARNING)  # the finders' progress chatter
    flavour.module(dist).seed_everything(cfg.run.seed, workers=True, verbose=False)
    return dist, build(cfg.model.model_dump(), "model"), build(cfg.data.model_dump(), "data"), dict(cfg.trainer)


def find_lr(cfg, plot: Path, min_lr: float = 1e-8, max_lr: float = 1.0, steps: int = 100) -> float:
    """Run Lightning's LR finder; save the loss-vs-lr plot at `plot` and return the suggested LR."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    dist, model, datamodule, trainer_args = _base(cfg)
    if not any(hasattr(o, a) for o in (model, model.hparams) for a in ("lr", "learning_rate")):
        raise UserError(f"model.class_path: {type(model).__name__} has no `lr` or `learning_rate` attribute or "
                        "hparam for the LR finder to set; add one (e.g. self.save_hyperparameters() with lr)")
    with tempfile.TemporaryDirectory() as root:
        finder = flavour.module(dist).tuner.Tuner(scratch_trainer(dist, trainer_args, root)).lr_find(
            model, datamodule=datamodule, min_lr=min_lr, max_lr=max_lr, num_training=steps, update_attr=False)
    suggestion = finder.suggestion()
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure = finder.plot(suggest=suggestion is not None, show=False)
    figure.savefig(plot, dpi=100)
    if suggestion is None:
        raise UserError(f"the LR finder could not suggest a learning rate (too few steps?); see the plot {plot}")
    return float(suggestion)


def find_batch_size(cfg, mode: str = "power") -> int:
    """Run Lightning's batch-size scaler on the base config; the largest batch size that fits."""
    dist, model, datamodule, trainer_args = _base(cfg)
    return scale_batch_size(dist, trainer_args, model, datamodule, mode)

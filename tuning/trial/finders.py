"""Lightning's learning-rate finder and batch-size scaler on a sweep's base config.

`tuning find-lr` / `tuning find-batch-size` run them in the driver process, on the model, data
and Trainer arguments of the sweep file without any sampled parameters; `trial.auto_batch_size`
runs the scaler inside each trial before it fits.
"""

import logging
import tempfile
from pathlib import Path
from typing import NamedTuple

from tuning.errors import UserError
from tuning.sweep import flavour
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
    from tuning.sweep.classes import build

    dist = prepare(cfg, metric=False)
    logging.getLogger(dist).setLevel(logging.WARNING)  # the finders' progress chatter
    flavour.module(dist).seed_everything(cfg.run.seed, workers=True, verbose=False)
    datamodule = build(cfg.data.model_dump(), "data") if cfg.data else None
    return dist, build(cfg.model.model_dump(), "model"), datamodule, dict(cfg.trainer)


def _with_cli_optimizer(cfg, dist, model, datamodule, trainer_args):
    """`_base`'s answer with LightningCLI's `optimizer`/`lr_scheduler` sections given to the module, as a trial
    gives them (tuning.trial.fit.prepare_trial): the finders then run the optimizer the trials run."""
    if cfg.optimizer is not None:
        from tuning.sweep.lightning_cli import add_configure_optimizers

        sweep = cfg.to_dict()
        add_configure_optimizers(model, sweep["optimizer"], sweep.get("lr_scheduler"))
    return dist, model, datamodule, trainer_args


class Found(NamedTuple):
    """What a finder found, and the sweep keys that set it, as `--set` takes them (none: no argument does)."""

    value: float | int
    keys: tuple[str, ...]


def _holds(obj, name: str) -> bool:
    """Whether Lightning's finders see `name` on the object: an attribute or an hparam (lightning_hasattr)."""
    return hasattr(obj, name) or name in getattr(obj, "hparams", {})


def _key(spec, section: str, *names: str) -> str:
    """`model.init_args.lr` (LightningCLI's form), or `model.lr` for a Hydra node; through nested nodes too."""
    if spec.cli_form == "hydra":  # a Hydra node's arguments sit beside its _target_
        return ".".join((section, *names))
    return ".".join((section, *(part for name in names for part in ("init_args", name))))


def _takes(obj, name: str) -> bool:
    """Whether the object's constructor takes argument `name`, so that the sweep can set it."""
    from tuning.sweep.class_paths import parameters

    sig = parameters(type(obj))
    return name in sig.named or sig.var_kw


def _injected_lr(spec) -> str | None:
    """The key of the `lr` of an optimizer the module takes as an argument (a class_path or _target_ node)."""
    import torch

    from tuning.sweep.lightning_cli import import_name

    for arg, node in (spec.init_args or {}).items():
        target = node.get("_target_" if spec.cli_form == "hydra" else "class_path") if isinstance(node, dict) else None
        cls = import_name(target, "torch.optim") if isinstance(target, str) else None
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer):
            return _key(spec, "model", arg, "lr")
    return None


def lr_keys(cfg, model) -> tuple[str, ...]:
    """The sweep key of the learning rate the LR finder's suggestion is for; () when no constructor argument sets it.

    The finder ramps the rate of whatever optimizer the module configures. LightningCLI's `optimizer` section
    replaces the module's configure_optimizers, so its lr wins; else the first of `lr`, `learning_rate` on the
    module or its hparams, the one Lightning's finder sets (update_attr); else the lr of an optimizer injected
    into the module (`model.init_args.optimizer`), which Lightning's finder cannot set (it refuses such a module).
    """
    if cfg.optimizer is not None:
        return ("optimizer.init_args.lr",)
    for name in ("lr", "learning_rate"):
        if _holds(model, name):
            return (_key(cfg.model, "model", name),) if _takes(model, name) else ()
    injected = _injected_lr(cfg.model)
    if injected:
        return (injected,)
    raise UserError(
        f"model.class_path: {type(model).__name__} has no `lr` or `learning_rate` attribute or "
        "hparam for the LR finder to set, nor an optimizer argument, and the sweep no optimizer section; "
        "add one (e.g. self.save_hyperparameters() with lr)"
    )


def find_lr(cfg, plot: Path, min_lr: float = 1e-8, max_lr: float = 1.0, steps: int = 100) -> Found:
    """Run Lightning's LR finder; save the loss-vs-lr plot at `plot`; the suggested LR and the key that sets it."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    dist, model, datamodule, trainer_args = _with_cli_optimizer(cfg, *_base(cfg))
    keys = lr_keys(cfg, model)
    with tempfile.TemporaryDirectory() as root:
        finder = (
            flavour.module(dist)
            .tuner.Tuner(scratch_trainer(dist, trainer_args, root))
            .lr_find(model, datamodule=datamodule, min_lr=min_lr, max_lr=max_lr, num_training=steps, update_attr=False)
        )
    suggestion = finder.suggestion()
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure = finder.plot(suggest=suggestion is not None, show=False)
    figure.savefig(plot, dpi=100)
    if suggestion is None:
        raise UserError(f"the LR finder could not suggest a learning rate (too few steps?); see the plot {plot}")
    return Found(float(suggestion), keys)


def batch_size_keys(cfg, model, datamodule) -> tuple[str, ...]:
    """The sweep keys of the `batch_size` Lightning's scaler sets (on every holder: the datamodule, the module),
    each where the holder's constructor takes it."""
    return tuple(
        _key(getattr(cfg, section), section, "batch_size")
        for section, holder in (("data", datamodule), ("model", model))
        if holder is not None and _holds(holder, "batch_size") and _takes(holder, "batch_size")
    )


def find_batch_size(cfg, mode: str = "power") -> Found:
    """Run Lightning's batch-size scaler on the base config; the largest batch size that fits and the keys that set
    it."""
    dist, model, datamodule, trainer_args = _with_cli_optimizer(cfg, *_base(cfg))
    return Found(scale_batch_size(dist, trainer_args, model, datamodule, mode), batch_size_keys(cfg, model, datamodule))

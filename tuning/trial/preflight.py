"""Before a sweep starts, in the driver: the classes imported and checked, the data prepared once, and the
metric contract (the model logs `search.metric` per epoch); the finders' scratch Trainer too.

The metric check runs the base config for a couple of training and validation batches in the driver (CPU when
the driver has no GPU) and lists what the model logs at epoch level. A sweep whose metric never
arrives would otherwise run every trial to the end with nothing for the scheduler to compare.
"""

import sys
import tempfile
import warnings

from tuning.compat import lightning as lightning_compat
from tuning.errors import UserError, describe_exception
from tuning.sweep import flavour

PREFLIGHT_BATCHES = 2
_LIGHTNING_PYTREE = r"(lightning\.pytorch|pytorch_lightning)\.utilities\._pytree"
# The sweep's budget and schedule would make this tiny run long or invalid (val_check_interval > batches).
_DROPPED = (
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "max_time",
    "val_check_interval",
    "check_val_every_n_epoch",
    "num_sanity_val_steps",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "fast_dev_run",
    "profiler",
    "callbacks",
)
_DEVICE_ARGS = ("accelerator", "devices", "strategy", "precision", "num_nodes")


# Trainer arguments a finder's scratch Trainer must not take from the sweep.
_NOT_FOR_FINDERS = (
    "callbacks",
    "profiler",
    "logger",
    "default_root_dir",
    "enable_checkpointing",
    "enable_progress_bar",
    "enable_model_summary",
)


def scratch_trainer(dist: str, trainer_args: dict, root: str):
    """A quiet Trainer (of distribution `dist`) with the sweep's options that logs, checkpoints and prints nothing."""
    args = {k: v for k, v in trainer_args.items() if k not in _NOT_FOR_FINDERS}
    return flavour.module(dist).Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        **args,
    )


def prepare(cfg, metric: bool = True) -> str:
    """Import and check the classes, prepare the data once, in the driver, then check the metric contract.

    Returns the sweep's Lightning distribution.
    """
    from tuning.sweep.classes import build, check_classes
    from tuning.trial.callbacks import check_trial_callbacks

    if cfg.objective is not None:  # a synthetic objective: no classes, data or metric to check
        return flavour.DEFAULT
    dist = check_classes(cfg).flavour
    notice = check_trial_callbacks(cfg, dist)
    if notice and metric:  # a sweep's trials drop it; the finders (metric=False) build no callbacks at all
        print(notice, file=sys.stderr, flush=True)
    if cfg.data is not None:  # a module with its own dataloaders prepares its data in each fit, as Lightning does
        datamodule = build(cfg.data.model_dump(), "data")  # as LightningCLI or Hydra would: refused here, not in trials
        try:  # a missing column or file, an unreachable Hub name: bad input, found before any trial starts
            datamodule.prepare_data()
        except (ValueError, OSError) as exc:
            raise UserError(f"data: {cfg.data.class_path}.prepare_data failed with data.init_args: {exc}") from None
    if metric:
        check_metric(cfg, dist)
    return dist


def epoch_metrics(trainer) -> tuple[set[str], set[str]]:
    """(names logged at epoch level, names logged per step only) in the last fit of `trainer`."""
    epoch, step = set(), set()
    for results in lightning_compat.logged_results(trainer):
        for metric in results.values():
            meta = getattr(metric, "meta", None)
            if meta is None:
                continue
            if meta.on_epoch:
                epoch.add(f"{meta.name}_epoch" if meta.forked else meta.name)
                epoch.add(meta.name)
            else:
                step.add(meta.name)
    return epoch, step - epoch


def _run_briefly(cfg, dist: str):
    """Fit the base config for a couple of batches (Lightning distribution `dist`); the finished Trainer."""
    import torch

    from tuning.sweep.classes import build

    args = {k: v for k, v in cfg.trainer.items() if k not in _DROPPED}
    if not torch.cuda.is_available():  # a GPU sweep is checked on the driver's CPU
        args = {k: v for k, v in args.items() if k not in _DEVICE_ARGS} | {"accelerator": "cpu"}
    flavour.module(dist).seed_everything(cfg.run.seed, workers=True, verbose=False)
    model = build(cfg.model.model_dump(), "model")
    datamodule = build(cfg.data.model_dump(), "data") if cfg.data else None
    with tempfile.TemporaryDirectory() as root:
        trainer = scratch_trainer(
            dist,
            {
                **args,
                "max_epochs": 1,
                "limit_train_batches": PREFLIGHT_BATCHES,
                "limit_val_batches": PREFLIGHT_BATCHES,
                "num_sanity_val_steps": 0,
            },
            root,
        )
        trainer.fit(model, datamodule=datamodule)
    return trainer


def check_metric(cfg, dist: str = flavour.DEFAULT) -> None:
    """UserError (exit 2) unless the model logs `search.metric` at epoch level, listing what it logs."""
    import logging

    logging.getLogger(dist).setLevel(logging.WARNING)
    from tuning.search.pareto import objectives

    try:
        with warnings.catch_warnings():
            # Lightning 2.6's own call of a torch API that torch 2.13 deprecates, printed on every `tuning run`:
            # nothing a user can act on (their own code's warnings still show).
            warnings.filterwarnings("ignore", category=FutureWarning, module=_LIGHTNING_PYTREE)
            trainer = _run_briefly(cfg, dist)
    except UserError:
        raise
    except Exception as exc:  # the user's __init__, init_args of the wrong type, a bug in a step
        data = f" and {cfg.data.class_path}" if cfg.data else ""
        raise UserError(
            f"model/data: building {cfg.model.class_path}{data} and fitting them on "
            f"{PREFLIGHT_BATCHES} batches (before any trial) raised {describe_exception(exc)}; check "
            "their init_args and code"
        ) from None
    epoch, step_only = epoch_metrics(trainer)
    missing = [m for m, _ in objectives(cfg.search) if m not in epoch]
    if not missing:
        return
    metric = missing[0]
    where = f"search.metric: '{metric}'"
    model = cfg.model.class_path
    if metric in step_only:
        raise UserError(
            f"{where} is logged by {model} per step only; the scheduler compares epochs: log it with "
            f"self.log('{metric}', value, on_epoch=True)"
        )
    logged = ", ".join(sorted(epoch)) or "nothing at all"
    raise UserError(
        f"{where} is not logged at epoch level by {model} (checked on {PREFLIGHT_BATCHES} training and "
        f"validation batches); it logs: {logged}. Set search.metric to one of these, or log it in "
        f"validation_step with self.log('{metric}', value)"
    )

"""The metric contract, checked before a sweep starts: the model logs `search.metric` per epoch.

Runs the base config for a couple of training and validation batches in the driver (CPU when
the driver has no GPU) and lists what the model logs at epoch level. A sweep whose metric never
arrives would otherwise run every trial to the end with nothing for the scheduler to compare.
"""

import tempfile

from tuning import flavour
from tuning.errors import UserError, describe_exception

PREFLIGHT_BATCHES = 2
# The sweep's budget and schedule would make this tiny run long or invalid (val_check_interval > batches).
_DROPPED = ("max_epochs", "min_epochs", "max_steps", "min_steps", "max_time", "val_check_interval",
            "check_val_every_n_epoch", "num_sanity_val_steps", "limit_train_batches", "limit_val_batches",
            "limit_test_batches", "limit_predict_batches", "fast_dev_run", "profiler", "callbacks")
_DEVICE_ARGS = ("accelerator", "devices", "strategy", "precision", "num_nodes")


def epoch_metrics(trainer) -> tuple[set[str], set[str]]:
    """(names logged at epoch level, names logged per step only) in the last fit of `trainer`."""
    loop = trainer.fit_loop.epoch_loop
    epoch, step = set(), set()
    for results in (loop._results, loop.val_loop._results):
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

    from tuning.finders import scratch_trainer
    from tuning.trial import build

    args = {k: v for k, v in cfg.trainer.items() if k not in _DROPPED}
    if not torch.cuda.is_available():  # a GPU sweep is checked on the driver's CPU
        args = {k: v for k, v in args.items() if k not in _DEVICE_ARGS} | {"accelerator": "cpu"}
    flavour.module(dist).seed_everything(cfg.run.seed, workers=True, verbose=False)
    model, datamodule = build(cfg.model.model_dump(), "model"), build(cfg.data.model_dump(), "data")
    with tempfile.TemporaryDirectory() as root:
        trainer = scratch_trainer(dist, {**args, "max_epochs": 1, "limit_train_batches": PREFLIGHT_BATCHES,
                                   "limit_val_batches": PREFLIGHT_BATCHES, "num_sanity_val_steps": 0}, root)
        trainer.fit(model, datamodule=datamodule)
    return trainer


def check_metric(cfg, dist: str = flavour.DEFAULT) -> None:
    """UserError (exit 2) unless the model logs `search.metric` at epoch level, listing what it logs."""
    import logging

    logging.getLogger(dist).setLevel(logging.WARNING)
    metric = cfg.search.metric
    try:
        trainer = _run_briefly(cfg, dist)
    except UserError:
        raise
    except Exception as exc:  # the user's __init__, init_args of the wrong type, a bug in a step
        raise UserError(f"model/data: building {cfg.model.class_path} and {cfg.data.class_path} and fitting them on "
                        f"{PREFLIGHT_BATCHES} batches (before any trial) raised {describe_exception(exc)}; check "
                        "their init_args and code") from None
    epoch, step_only = epoch_metrics(trainer)
    if metric in epoch:
        return
    where = f"search.metric: '{metric}'"
    model = cfg.model.class_path
    if metric in step_only:
        raise UserError(f"{where} is logged by {model} per step only; the scheduler compares epochs: log it with "
                        f"self.log('{metric}', value, on_epoch=True)")
    logged = ", ".join(sorted(epoch)) or "nothing at all"
    raise UserError(f"{where} is not logged at epoch level by {model} (checked on {PREFLIGHT_BATCHES} training and "
                    f"validation batches); it logs: {logged}. Set search.metric to one of these, or log it in "
                    f"validation_step with self.log('{metric}', value)")

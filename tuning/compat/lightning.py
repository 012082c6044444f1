"""Reaches into private parts of Lightning, for either distribution (`lightning.pytorch` or `pytorch_lightning`).

A sweep's classes pick the distribution (tuning.sweep.flavour), so each function takes it (`dist`) or an object of
it and imports the distribution's module by that name: there is no one library to import at the top. Each says why
the public API does not do the job; tests/tuning/compat/test_seam.py checks them for both distributions.
"""

import importlib
import types

import yaml


def logged_results(trainer) -> list:
    """What the last fit logged, per loop: the fit and validation loops' result collections (each entry
    has `.meta.on_epoch`/`.on_step`). Lightning offers the values (callback_metrics), not how each was
    logged, which the metric preflight needs to say "logged per step only"."""
    loop = trainer.fit_loop.epoch_loop
    return [loop._results, loop.val_loop._results]


def lightning_cli_instantiator(dist: str, parser, config, section: str, cls: type) -> tuple:
    """LightningCLI's own instantiator (`_InstantiatorFn`, private) for `section`, as jsonargparse's
    `instantiate(..., instantiators=[it])` takes it.

    It is what makes a module built by LightningCLI reloadable: `save_hyperparameters()` then stores the
    section's config (nested class_path entries as written, not the objects built from them) with
    LightningCLI's `instantiate_module`, and `load_from_checkpoint` rebuilds nested classes from that. The
    public LightningCLI would also parse and build a Trainer, which a trial builds itself.
    """
    cli = importlib.import_module(f"{dist}.cli")
    # as LightningCLI._dump_config dumps it: with null values (an argument given null keeps null on reload)
    dump = parser.dump(config, skip_link_targets=False, skip_unset=False)
    holder = types.SimpleNamespace(config_dump=yaml.safe_load(dump), _dump_config=lambda: None)
    return cli._InstantiatorFn(cli=holder, key=section), cls, True  # True: subclasses of cls too


def init_optimizers(dist: str, pl_module) -> tuple[list, list]:
    """Lightning's own parser of `configure_optimizers`' many return shapes (private, stable across 2.x):
    writing our own would duplicate it and miss shapes users rely on."""
    parse = importlib.import_module(f"{dist}.core.optimizer")._init_optimizers_and_lr_schedulers
    optimizers, scheduler_configs = parse(pl_module)
    return optimizers, [c.scheduler for c in scheduler_configs]


def flat_hparams(fabric_logger, tb_logger, merged: dict) -> dict:
    """Hyperparameters flattened and sanitized as TensorBoardLogger does before writing them."""
    return tb_logger._sanitize_params(fabric_logger._flatten_dict(merged))


def convert_params(fabric_logger, hparams) -> dict:
    """Hyperparameters as a plain dict, as Lightning's loggers convert them (Namespace, dataclass...)."""
    return fabric_logger._convert_params(hparams)


def write_summary(tb_logger, summary) -> None:
    """Write one summary protobuf into the logger's event file (SummaryWriter has no public call for a
    ready-made summary; the HParams plugin's summaries are made by torch's `hparams`)."""
    tb_logger.experiment._get_file_writer().add_summary(summary)

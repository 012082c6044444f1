"""The sweep's own Lightning loggers (`trainer.logger`) told which trial they log, so a tracker groups a sweep's trials
without code of the user's.

A W&B, MLflow, Comet or Neptune logger (the class or a subclass of it, from either Lightning distribution or the
tracker's own package) gets, where its entry leaves them empty: the run's name = the trial id, its group (W&B), MLflow
experiment, Comet project or Neptune tags = the sweep's name, and the trial's config (dotted keys) among its
hyperparameters, next to those Lightning logs of the module. What the entry (or the tracker's own environment
variable, e.g. WANDB_RUN_GROUP) sets is kept. Runs in the trial, where the Trainer is built (tuning.trial.fit).
"""

import os
from typing import NamedTuple

# logger class name (the class or one it derives from) -> argument -> what fills it
IDENTITY = {
    "WandbLogger": {"name": "trial", "group": "sweep"},  # group: a wandb.init argument, through **kwargs
    "MLFlowLogger": {"run_name": "trial", "experiment_name": "sweep"},
    "CometLogger": {"name": "trial", "project": "sweep"},
    "NeptuneLogger": {"name": "trial", "tags": "sweep_tags"},
}
# an argument the tracker also takes from the environment: set there, it is the user's choice
FROM_ENV = {
    ("WandbLogger", "name"): "WANDB_NAME",
    ("WandbLogger", "group"): "WANDB_RUN_GROUP",
    ("CometLogger", "project"): "COMET_PROJECT_NAME",
}


class TrialIdentity(NamedTuple):
    """Who a trial is, for the trackers: its id, its sweep's name, its sampled config (dotted keys)."""

    trial: str
    sweep: str
    config: dict

    def value(self, what: str):
        """The value an IDENTITY entry names."""
        return {"trial": self.trial, "sweep": self.sweep, "sweep_tags": [self.sweep]}[what]


def trial_id_of(trial_dir: str) -> str:
    """The trial id in a trial directory's name (`trial_<index>_<id>`, or `trial_<id>`; tuning.trial.fit)."""
    name = os.path.basename(os.path.normpath(trial_dir))
    parts = name.split("_", 2)
    if len(parts) == 3 and parts[0] == "trial" and parts[1].isdigit():
        return parts[2]
    return name.removeprefix("trial_")


def identity(sweep: dict, trial_dir: str, config: dict | None) -> TrialIdentity:
    """The identity of the trial that writes into `trial_dir`, of the resolved sweep `sweep`."""
    return TrialIdentity(trial_id_of(trial_dir), str(sweep.get("name") or ""), dict(config or {}))


def family(cls) -> str | None:
    """The IDENTITY entry a logger class belongs to (by its name or a base class's), or None."""
    return next((c.__name__ for c in cls.__mro__ if c.__name__ in IDENTITY), None)


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def logger_args(cls, init_args: dict, who: TrialIdentity) -> dict:
    """`init_args` of a logger of class `cls` with the trial's identity where the user left it empty. For W&B, a
    run an earlier trial of this worker left open is ended first (WandbLogger would log into it)."""
    from tuning.sweep.class_paths import parameters

    kind = family(cls)
    if kind is None or not who.sweep:
        return init_args
    if kind == "WandbLogger":
        finish_wandb_run()
    sig, args = parameters(cls), dict(init_args)
    for arg, what in IDENTITY[kind].items():
        if not _empty(args.get(arg)) or os.environ.get(FROM_ENV.get((kind, arg), "")):
            continue
        if arg in sig.named or sig.var_kw:
            args[arg] = who.value(what)
    return args


def finish_wandb_run() -> None:
    """End this process's W&B run, if any: a trial's, as it ends or one an earlier trial left in a reused worker."""
    import sys

    wandb = sys.modules.get("wandb")  # never imported here: a run exists only where W&B was imported
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.run.finish()


def identity_callback(dist: str, loggers: list, who: TrialIdentity):
    """A Lightning callback that logs the trial's config to the trackers' loggers as the fit starts, and ends a
    W&B run with its trial (with reused workers, the next trial's WandbLogger would otherwise log into it).
    None when `loggers` holds no tracker."""
    from tuning.sweep import flavour

    trackers = [logger for logger in loggers if family(type(logger)) is not None]
    if not trackers:
        return None

    class SweepIdentity(flavour.module(dist).Callback):
        def on_fit_start(self, trainer, pl_module):
            for logger in trackers:
                if who.config:
                    logger.log_hyperparams(dict(who.config))  # rank zero only: Lightning's loggers decorate it

        def teardown(self, trainer, pl_module, stage):
            if trainer.is_global_zero and any(family(type(logger)) == "WandbLogger" for logger in trackers):
                finish_wandb_run()

    return SweepIdentity()

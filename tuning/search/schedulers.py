"""Trial schedulers by name: one entry each, its factory and what the rest of tuning asks of it.

A factory takes the scheduler's section of the sweep (its own settings model in tuning.sweep.config), the epoch
budget and the search space, and imports Ray Tune only when it is called: the sweep's checks read the entries
without Ray.
"""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Scheduler:
    """A trial scheduler (search.scheduler.name): its factory and what the rest of tuning asks of it."""

    factory: Callable  # (settings, max_t, space) -> a Tune scheduler
    compares_one_metric: bool = True  # ranks trials on one number: search.scheduler.metric with several objectives
    needs_budget: bool = False  # measures trials against a whole-number epoch budget (trainer.max_epochs or max_t)
    needs_checkpoints: bool = False  # pauses trials or copies them, and restarts them from their checkpoints
    stop_at_budget: bool = False  # Tune itself must end a trial at the budget (see _hyperband)
    mutates: bool = False  # changes running trials' hyperparameters (search.scheduler.mutations): explores by itself


def _asha(spec, max_t: int, space):
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=max_t,
        grace_period=min(spec.grace_period, max_t),
        reduction_factor=spec.reduction_factor,
    )


def _hyperband(spec, max_t: int, space):
    """Ray's HyperBand can pause a trial that reached the budget and never resume or end it (the sweep then spins
    forever; ray#6780, ray PR #39157): its entry has Tune end a trial at the budget before HyperBand decides."""
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(time_attr="training_iteration", max_t=max_t, reduction_factor=spec.reduction_factor)


def _median(spec, max_t: int, space):
    from ray.tune.schedulers import MedianStoppingRule

    return MedianStoppingRule(
        time_attr="training_iteration", grace_period=spec.grace_period, min_samples_required=spec.min_samples_required
    )


def _pbt(spec, max_t: int, space):
    from ray.tune.schedulers import PopulationBasedTraining

    # Choices mutate to a neighbouring value; ranges are perturbed (x0.8 / x1.2) or resampled.
    mutations = {
        key: list(d.args) if d.kind == "choice" else d.to_tune() for key, d in (spec.mutations or space).items()
    }
    return PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=spec.perturbation_interval,
        hyperparam_mutations=mutations,
        quantile_fraction=spec.quantile_fraction,
        resample_probability=spec.resample_probability,
    )


def _fifo(spec, max_t: int, space):
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


SCHEDULERS = {
    "asha": Scheduler(_asha, needs_budget=True),
    "hyperband": Scheduler(_hyperband, needs_budget=True, needs_checkpoints=True, stop_at_budget=True),
    "median": Scheduler(_median),
    "pbt": Scheduler(_pbt, needs_checkpoints=True, mutates=True),
    "fifo": Scheduler(_fifo, compares_one_metric=False),
}

# What the sweep schema (tuning.sweep.config) accepts: the names alone, each with its own settings there.
SCHEDULER_NAMES = tuple(SCHEDULERS)


def make_scheduler(spec, max_t: int | None, space: dict):
    """The Tune scheduler named by `spec.name`; `max_t` is a trial's epoch budget, `space` the search space."""
    return SCHEDULERS[spec.name].factory(spec, max_t, space)

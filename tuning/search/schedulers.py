"""Trial schedulers by name: each factory takes the scheduler section, the epoch budget and the search space."""


def _asha(spec, max_t: int, space):
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=min(spec.grace_period, max_t),
                         reduction_factor=spec.reduction_factor)


def _hyperband(spec, max_t: int, space):
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(time_attr="training_iteration", max_t=max_t, reduction_factor=spec.reduction_factor)


def _median(spec, max_t: int, space):
    from ray.tune.schedulers import MedianStoppingRule

    return MedianStoppingRule(time_attr="training_iteration", grace_period=spec.grace_period,
                              min_samples_required=spec.min_samples_required)


def _pbt(spec, max_t: int, space):
    from ray.tune.schedulers import PopulationBasedTraining

    # Choices mutate to a neighbouring value; ranges are perturbed (x0.8 / x1.2) or resampled.
    mutations = {key: list(d.args) if d.kind == "choice" else d.to_tune()
                 for key, d in (spec.mutations or space).items()}
    return PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=spec.perturbation_interval,
                                   hyperparam_mutations=mutations, quantile_fraction=spec.quantile_fraction,
                                   resample_probability=spec.resample_probability)


def _fifo(spec, max_t: int, space):
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


SCHEDULERS = {"asha": _asha, "hyperband": _hyperband, "median": _median, "pbt": _pbt, "fifo": _fifo}


def make_scheduler(spec, max_t: int | None, space: dict):
    """The Tune scheduler named by `spec.name`; `max_t` is a trial's epoch budget, `space` the search space."""
    return SCHEDULERS[spec.name](spec, max_t, space)

"""Trial schedulers by name: each factory takes the scheduler section and the epoch budget."""


def _asha(spec, max_t: int):
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=min(spec.grace_period, max_t),
                         reduction_factor=spec.reduction_factor)


def _fifo(spec, max_t: int):
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


SCHEDULERS = {"asha": _asha, "fifo": _fifo}


def make_scheduler(spec, max_t: int):
    """The Tune scheduler named by `spec.name`; `max_t` is the epoch budget of one trial."""
    if spec.name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler '{spec.name}'; available: {', '.join(SCHEDULERS)}")
    return SCHEDULERS[spec.name](spec, max_t)

"""Sampling a conditional space (tuning.sweep.space): a choice whose values each bring a sub-space of their own.

Tune's domains cannot say "sample this key only when that one took this value", so a conditional space
is sampled here, never by Tune: for Optuna by a define-by-run function (the study records only the
keys a trial sampled, with the same distributions Ray would give a flat space), for random and grid by
a small Tune Searcher. Either way a trial's config holds the keys of its chosen branches and no others.
"""

import math
import random

from tuning.sweep.space import Domain, active


def optuna_distribution(domain: Domain):
    """The Optuna distribution of a plain entry, as Ray's OptunaSearch converts the Tune domain of a flat space."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if domain.kind in ("choice", "grid"):
        return CategoricalDistribution(list(domain.args))
    low, high, *q = domain.args
    if domain.kind == "randint":
        return IntDistribution(low, high - 1)  # Tune's randint excludes high, Optuna's includes it
    if "log" in domain.kind:
        return FloatDistribution(low, high, log=True)  # Optuna has no quantized log domain (Ray drops q too)
    return FloatDistribution(low, high, step=q[0] if q else None)


def define_by_run(space: dict[str, Domain], ot_trial) -> None:
    """Ray's define-by-run `space` callable: suggest the top level, then each chosen value's branch, deeper."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    for key, domain in space.items():
        dist = optuna_distribution(domain)
        if isinstance(dist, CategoricalDistribution):
            value = ot_trial.suggest_categorical(key, dist.choices)
        elif isinstance(dist, IntDistribution):
            value = ot_trial.suggest_int(key, dist.low, dist.high)
        else:
            value = ot_trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)
        if domain.branches:
            define_by_run(domain.branch(value), ot_trial)
    # None: Ray takes the suggested values (and only those) as the trial's config


def distributions(space: dict[str, Domain], params: dict) -> dict:
    """The distributions define_by_run gives a trial with these params (a warm start's create_trial needs them)."""
    reach = active(space, params)
    return {key: optuna_distribution(reach[key]) for key in params if key in reach}


def sample(domain: Domain, rng: random.Random):
    """One value of a plain entry, drawn as Tune draws it."""
    if domain.kind in ("choice", "grid"):
        return domain.args[rng.randrange(len(domain.args))]
    low, high, *q = domain.args
    if domain.kind == "randint":
        return rng.randrange(low, high)
    value = math.exp(rng.uniform(math.log(low), math.log(high))) if "log" in domain.kind else rng.uniform(low, high)
    return round(value / q[0]) * q[0] if q else value


def fill(space: dict[str, Domain], given: dict, rng: random.Random) -> dict:
    """A config: the `given` values, the rest of the top level and of each chosen branch drawn at random."""
    out = {}
    for key, domain in space.items():
        out[key] = given[key] if key in given else sample(domain, rng)
        if domain.branches:
            out.update(fill(domain.branch(out[key]), given, rng))
    return out


def grid_points(space: dict[str, Domain], as_grid: bool) -> list[dict]:
    """Every grid point: the values of grid entries (and with `as_grid`, of choices), each branch expanded.

    A conditional choice contributes the sum of its branches' grid points (tuning.sweep.space.grid_size).
    """
    points = [{}]
    for key, domain in space.items():
        if domain.branches and as_grid:
            options = [
                {key: v, **sub}
                for v, branch in zip(domain.args, domain.branches)
                for sub in grid_points(branch, as_grid)
            ]
        elif domain.kind == "grid" or (as_grid and domain.kind == "choice"):
            options = [{key: v} for v in domain.args]
        else:
            continue
        points = [{**p, **o} for p in points for o in options]
    return points

"""Built-in synthetic objectives: a sweep whose trials cost milliseconds, for testing searchers and schedulers.

A sweep with a top-level `objective: {name: hartmann6|branin|zdt1, iterations: N, noise: 0.0}` section has
no model, data or trainer. It searches `objective.x0` ... `objective.x<d-1>` (each objective's own
domain, see OBJECTIVES) and every trial reports `value` (zdt1, with two objectives: `f1` and `f2`,
a sweep with `search.metric: [f1, f2]`) once per iteration, approaching the
function's true value as iterations grow and equal to it at the last one (a multi-fidelity
function: like a learning curve, the early values rank points differently from the final ones).
Nothing here imports torch or Lightning; ray is imported only inside a trial.
"""

import math
import random
import zlib
from typing import Callable, NamedTuple

METRIC = "value"  # what every synthetic trial reports; the sweep's search.metric must name it

_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = ((10, 3, 17, 3.5, 1.7, 8), (0.05, 10, 17, 0.1, 8, 14), (3, 3.5, 1.7, 10, 17, 8), (17, 8, 0.05, 10, 0.1, 14))
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def hartmann6(x) -> float:
    """The 6-dimensional Hartmann function on [0, 1]^6; global minimum -3.32237."""
    return -sum(
        alpha * math.exp(-sum(a * (xj - p) ** 2 for a, xj, p in zip(row, x, prow)))
        for alpha, row, prow in zip(_H6_ALPHA, _H6_A, _H6_P)
    )


def branin(x) -> float:
    """The Branin function on [-5, 10] x [0, 15]; global minimum 0.397887 (at three points)."""
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def zdt1(x) -> tuple:
    """ZDT1 (Zitzler, Deb and Thiele, 2000) on [0, 1]^n, two objectives to minimize; its Pareto front is
    f2 = 1 - sqrt(f1), reached where x1 = ... = 0."""
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    return x[0], g * (1 - math.sqrt(x[0] / g))


class Objective(NamedTuple):
    """A test function, its domain (one (low, high) per coordinate), its known minimum and a minimizer."""

    function: Callable
    bounds: tuple
    minimum: float
    argmin: tuple
    gap: float  # the size of the early-iteration offset, in the function's own units
    metrics: tuple = (METRIC,)  # what a trial reports: one name per value the function returns


OBJECTIVES = {
    "hartmann6": Objective(
        hartmann6, ((0.0, 1.0),) * 6, -3.32237, (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), 1.0
    ),
    "branin": Objective(branin, ((-5.0, 10.0), (0.0, 15.0)), 0.397887, (math.pi, 2.275), 20.0),
    # Two objectives: minimum and argmin are f1's (the front's end where f2 = 1).
    "zdt1": Objective(zdt1, ((0.0, 1.0),) * 4, 0.0, (0.0,) * 4, 1.0, ("f1", "f2")),
}


def space_keys(name: str) -> list[str]:
    """The search-space keys of objective `name`: objective.x0, objective.x1, ..."""
    return [f"objective.x{i}" for i in range(len(OBJECTIVES[name].bounds))]


def value(name: str, x, iteration: int, iterations: int, noise: float = 0.0, seed: int = 0) -> float | tuple:
    """The objective at fidelity `iteration` of `iterations`: f(x) plus an offset that decays to 0 at the last.

    The offset (e-fold every iterations/4) is larger for points high in their domain, so early
    values are a biased view of the final ones. `noise` adds Gaussian noise of that standard
    deviation, the same for the same x, seed and iteration. A function of several objectives gives a
    tuple, each value treated so.
    """
    obj = OBJECTIVES[name]
    position = sum((xi - low) / (high - low) for xi, (low, high) in zip(x, obj.bounds)) / len(x)
    decay = (math.exp(-4 * iteration / iterations) - math.exp(-4)) / (1 - math.exp(-4))
    exact = obj.function(x)
    results = [f + obj.gap * (0.5 + position) * decay for f in (exact if isinstance(exact, tuple) else [exact])]
    if noise:
        for i in range(len(results)):  # the first value's key is the one-objective key, unchanged
            key = zlib.crc32(repr((seed, iteration, [float(xi) for xi in x], *([i] if i else []))).encode())
            results[i] += noise * random.Random(key).gauss(0.0, 1.0)
    return tuple(results) if isinstance(exact, tuple) else results[0]


def run_objective(config: dict, objective: dict, seed: int = 0) -> None:
    """A Ray Tune function trainable: report `value` once per iteration, no checkpoints.

    There is nothing worth resuming from: a trial that `tuning resume` finds unfinished restarts
    from its first iteration.
    """
    from ray import tune

    name, iterations, noise = objective["name"], objective["iterations"], objective.get("noise", 0.0)
    x = [config[key] for key in space_keys(name)]
    metrics = OBJECTIVES[name].metrics
    for iteration in range(1, iterations + 1):
        result = value(name, x, iteration, iterations, noise, seed)
        tune.report(dict(zip(metrics, result if isinstance(result, tuple) else (result,))))


def sweep_problem(cfg) -> str | None:
    """What is wrong with a sweep's objective (or its lack of model and data), or None."""
    from tuning.search.registry import either, names_with
    from tuning.search.schedulers import SCHEDULERS
    from tuning.sweep.space import always_sampled, flat_domains, key_paths

    space, paths = cfg.search.space, key_paths(cfg.search.space)  # a conditional choice's branches too
    if cfg.objective is None:
        if cfg.model is None:  # data may be left out: a module with its own dataloaders (tuning.sweep.classes)
            return (
                f"model: required key is missing; a sweep needs a model ({{class_path, init_args}}, and data "
                f"unless the module has its own dataloaders) or an objective section instead (objective.name: "
                f"{' or '.join(OBJECTIVES)})"
            )
        stray = [key for key in paths if key.startswith("objective.")]
        return f"search.space.{paths[stray[0]]}: objective.* keys need an objective section" if stray else None
    given = [key for key in ("model", "data", "trainer") if getattr(cfg, key)]
    if given:
        return f"{given[0]}: a sweep with an objective has no {given[0]} (objective replaces model, data and trainer)"
    for key in ("early_stopping", "auto_batch_size"):  # Lightning's options for a trial: nothing to apply them to
        if getattr(cfg.trial, key):
            return f"trial.{key}: a synthetic objective trains no model, so Lightning's trial options do not apply"
    if SCHEDULERS[cfg.search.scheduler.name].needs_checkpoints:
        return (
            f"search.scheduler: {cfg.search.scheduler.name} restarts trials from checkpoints, which a synthetic "
            f"objective does not keep; use {either(names_with(SCHEDULERS, needs_checkpoints=False))}"
        )
    keys = space_keys(cfg.objective.name)
    for key, domain in flat_domains(space, merge=False).items():
        if key not in keys:
            return f"search.space.{paths[key]}: objective {cfg.objective.name} searches {', '.join(keys)} only"
        if domain.kind in ("choice", "grid") and not all(isinstance(v, (int, float)) for v in domain.args):
            return f"search.space.{paths[key]}: the objective's inputs are numbers, got {list(domain.args)}"
    missing = [key for key in keys if key not in always_sampled(space)]  # every trial needs every input
    if missing:
        return (
            f"search.space.{missing[0]}: missing{' from some branches' if missing[0] in paths else ''}; "
            f"objective {cfg.objective.name} needs all of {', '.join(keys)}"
        )
    reported = OBJECTIVES[cfg.objective.name].metrics
    if len(reported) == 1 and cfg.search.metric != METRIC:
        return f"search.metric: a synthetic objective reports '{METRIC}', got '{cfg.search.metric}'"
    unknown = [
        m
        for m in (cfg.search.metric if isinstance(cfg.search.metric, list) else [cfg.search.metric])
        if m not in reported
    ]
    if unknown:
        return f"search.metric: objective {cfg.objective.name} reports {', '.join(reported)}, not '{unknown[0]}'"
    return None

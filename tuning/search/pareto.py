"""Several objectives: the sweep's (metric, mode) pairs, Pareto ranks by non-dominated sorting, hypervolume.

Pure Python on plain data, so the report (which imports no Ray) and the searcher share one rule.
"""

import math


def objectives(search) -> list[tuple[str, str]]:
    """The (metric, mode) pairs of a search section (a SearchSpec or the plain dict of sweep.yaml).

    `metric: val_loss, mode: min` -> [("val_loss", "min")]; lists of the same length pair up.
    """
    metric, mode = (
        (search.get("metric"), search.get("mode")) if isinstance(search, dict) else (search.metric, search.mode)
    )
    metrics = list(metric) if isinstance(metric, (list, tuple)) else [metric]
    modes = list(mode) if isinstance(mode, (list, tuple)) else [mode] * len(metrics)
    return list(zip(metrics, modes))


def is_multi(search) -> bool:
    """Whether the search section names several objectives (search.metric is a list of more than one)."""
    return len(objectives(search)) > 1


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def dominates(a, b, modes) -> bool:
    """Whether point `a` is at least as good as `b` in every objective and better in one."""
    signed = [(x if m == "min" else -x, y if m == "min" else -y) for x, y, m in zip(a, b, modes)]
    return all(x <= y for x, y in signed) and any(x < y for x, y in signed)


def pareto_ranks(points: list, modes) -> list[int | None]:
    """Each point's Pareto rank by non-dominated sorting: 1 = dominated by none, 2 = by rank-1 points only, ...

    A point with a missing or non-finite value has no rank (None). O(n^2) per front: fine for the
    hundreds to thousands of trials a sweep holds.
    """
    ranks = [None] * len(points)
    left = [i for i, p in enumerate(points) if p is not None and len(p) == len(modes) and all(map(_finite, p))]
    rank = 0
    while left:
        rank += 1
        front = [i for i in left if not any(dominates(points[j], points[i], modes) for j in left if j != i)]
        for i in front:
            ranks[i] = rank
        left = [i for i in left if ranks[i] is None]
    return ranks


def hypervolume_2d(points: list, modes, reference) -> float:
    """The area that the non-dominated points of two objectives dominate, bounded by `reference`.

    Points not strictly better than the reference in both objectives add nothing.
    """
    signs = [1 if m == "min" else -1 for m in modes]
    ref = [s * r for s, r in zip(signs, reference)]
    inside = sorted(
        {
            (signs[0] * p[0], signs[1] * p[1])
            for p in points
            if p is not None and all(map(_finite, p)) and signs[0] * p[0] < ref[0] and signs[1] * p[1] < ref[1]
        }
    )
    area, ceiling = 0.0, ref[1]
    for x, y in inside:  # by the first objective, best first: each point adds the strip below the last
        if y < ceiling:
            area += (ref[0] - x) * (ceiling - y)
            ceiling = y
    return area


def compared(search) -> tuple[str, str]:
    """The one (metric, mode) that Tune's scheduler and checkpoint ranking compare: search.scheduler.metric's
    pair when set, else the first objective (the only one of a single-objective sweep)."""
    pairs = objectives(search)
    scheduler = search.get("scheduler") or {} if isinstance(search, dict) else search.scheduler.model_dump()
    return next((p for p in pairs if p[0] == scheduler.get("metric")), pairs[0])

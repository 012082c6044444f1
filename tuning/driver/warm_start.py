"""Warm starts: the trials of earlier experiments, as points a searcher can learn from."""

import sys
from typing import NamedTuple

from tuning.errors import UserError


class Point(NamedTuple):
    """An earlier trial: its params, its value at this sweep's scope, whether a scheduler stopped it, and its
    (epoch, value) pairs."""

    params: dict
    value: float
    pruned: bool = False
    steps: tuple = ()


def warm_start_points(experiments: list[str], search) -> list[Point]:
    """Finished trials of `experiments` whose params all lie in `search.space`; others are skipped with a warning.

    With a conditional choice a trial's params are those of the branches it chose (tuning.sweep.space.active)."""
    from tuning.report import finite, load_report
    from tuning.sweep.space import active

    points = []
    for experiment in experiments:
        report = load_report(experiment, scope=search.scope)
        if (report.metric, report.mode) != (search.metric, search.mode):
            raise UserError(
                f"search.warm_start: {experiment} ranks by {report.metric} ({report.mode}), "
                f"this sweep by {search.metric} ({search.mode}); warm starts need the same metric"
            )
        skipped = 0
        for trial in report.trials:
            if trial.metric is None:
                continue
            reach = active(search.space, trial.config)
            if set(trial.config) != set(reach) or not all(reach[k].contains(v) for k, v in trial.config.items()):
                skipped += 1
                continue
            steps = tuple(
                (r["training_iteration"], r[search.metric])
                for r in report.results
                if r["trial_id"] == trial.trial_id and finite(r.get(search.metric))
            )
            points.append(Point(dict(trial.config), trial.metric, trial.status == "stopped_early", steps))
        if skipped:
            print(
                f"warning: warm start from {experiment}: skipped {skipped} trial(s) whose params are not all "
                f"in this sweep's search space",
                file=sys.stderr,
            )
    return points

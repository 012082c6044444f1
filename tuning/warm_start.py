"""Warm starts: the trials of earlier experiments, as (params, value) pairs a searcher can learn from."""

import sys

from tuning.errors import UserError


def warm_start_points(experiments: list[str], search) -> list[tuple[dict, float]]:
    """Finished trials of `experiments` whose params all lie in `search.space`; others are skipped with a warning."""
    from tuning.report import load_report

    points = []
    for experiment in experiments:
        report = load_report(experiment)
        if (report.metric, report.mode) != (search.metric, search.mode):
            raise UserError(f"search.warm_start: {experiment} ranks by {report.metric} ({report.mode}), "
                            f"this sweep by {search.metric} ({search.mode}); warm starts need the same metric")
        skipped = 0
        for trial in report.trials:
            if trial.metric is None:
                continue
            if set(trial.config) != set(search.space) or not all(
                    search.space[k].contains(v) for k, v in trial.config.items()):
                skipped += 1
                continue
            points.append((dict(trial.config), trial.metric))
        if skipped:
            print(f"warning: warm start from {experiment}: skipped {skipped} trial(s) whose params are not all "
                  f"in this sweep's search space", file=sys.stderr)
    return points

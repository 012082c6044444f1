"""The words and numbers of a report that every format shares: values, sizes, statuses, the headline, the
compute line. Formats (tuning.report.formats, tuning.report.html) and compare build on these; nothing here
knows a format.

Text from the experiment (trial ids, errors, config values, metric and param names) comes out of here inert
(tuning.text): control characters as visible escapes, so no format prints a terminal escape it read."""

from collections import Counter
from typing import Callable

from tuning.report.load import Report, TrialRow
from tuning.text import inert


def cell(value) -> str:
    """A cell: `-` for None, 4 significant digits for a float, text inert (control characters escaped)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return inert(value)


def human_bytes(n: int) -> str:
    """1536 -> '1.5K'."""
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return str(n)


def status_text(trial: TrialRow) -> str:
    """`stopped_early@3` for a trial the scheduler stopped at iteration 3, else the status (inert: an unknown
    status is the state file's own word)."""
    return inert(f"{trial.status}@{trial.stopped_at}" if trial.stopped_at else trial.status)


def relative(report: Report, path: str | None) -> str | None:
    """`path` relative to the experiment directory, when it lies inside it."""
    return path[len(report.experiment) + 1 :] if path and path.startswith(report.experiment + "/") else path


def checkpoints_text(trial: TrialRow) -> str:
    """`2/1.5K`: Tune checkpoints kept and their size, `+N .ckpt` for the trial's own Lightning checkpoints."""
    extra = f" +{trial.model_checkpoints} .ckpt" if trial.model_checkpoints else ""
    return f"{trial.checkpoints}/{human_bytes(trial.checkpoint_bytes)}{extra}"


def param_keys(report: Report) -> list[str]:
    """The params any trial sampled, sorted: the table's and the trial records' param columns."""
    return sorted({key for t in report.trials for key in t.config})


def columns(report: Report, max_metrics: int | None = None) -> list[tuple[str, Callable[[TrialRow], object]]]:
    """The trial table's columns as (label, the value of a trial), for every format that draws the table.

    Values are raw (numbers stay numbers; a format writes them its way); the other metrics shown are the
    first `max_metrics` by name, and a parameter a trial did not sample is None (a blank cell)."""
    names = [m for m, _ in report.objectives]  # several objectives: a pareto column, then one per objective
    metrics = sorted({k for t in report.trials for k in t.metrics} - set(names))[:max_metrics]
    params = param_keys(report)
    ranked = (
        [
            ("pareto", lambda t: t.pareto_rank),
            *((m, lambda t, i=i: t.values[i] if t.values else None) for i, m in enumerate(names)),
        ]
        if names
        else [(report.metric, lambda t: t.metric)]
    )
    cols = [
        ("rank", lambda t: t.rank),
        ("trial", lambda t: f"{t.trial_id} (baseline)" if t.baseline else t.trial_id),
        ("status", status_text),
        *ranked,
        ("epoch", lambda t: t.epoch),
        *((m, lambda t, m=m: t.metrics.get(m)) for m in metrics),
        ("epochs", lambda t: t.iterations),
        *((p.split(".")[-1], lambda t, p=p: t.config.get(p)) for p in params),
        ("time_s", lambda t: t.time_s),
        ("node", lambda t: t.node),
        ("ckpts", checkpoints_text),
        ("checkpoint", lambda t: relative(report, t.checkpoint)),
    ]
    return [(inert(label), value) for label, value in cols]  # metric and param names come from the experiment


def headline(report: Report) -> str:
    """What is ranked and how, with the status counts (inert: the metric names come from the experiment)."""
    return inert(_headline(report))


def _headline(report: Report) -> str:
    counts = Counter(t.status for t in report.trials)
    scope = "best epoch of each trial" if report.scope == "best" else "last epoch of each trial"
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
    shown = f"; showing {', '.join(report.statuses)}" if report.statuses else ""
    if report.objectives:  # the values are those at the epoch the first metric's scope picks
        pairs = ", ".join(f"{m} ({mode})" for m, mode in report.objectives)
        return (
            f"ranked by Pareto rank of {pairs}, then {report.metric}; values at the {scope} by {report.metric}; "
            f"{len(report.trials)} trials: {summary or 'none yet'}{shown}"
        )
    return (
        f"ranked by {report.metric} ({report.mode}), {scope}; {len(report.trials)} trials: "
        f"{summary or 'none yet'}{shown}"
    )


def compute_line(compute: dict) -> str:
    """One line of compute accounting."""
    parts = [f"{compute['trial_s']:.1f} trial-s"]
    if compute["gpu_s"]:
        parts.append(f"{compute['gpu_s']:.1f} GPU-s")
    parts.append(f"early stopping saved ~{compute['saved_s']:.1f} trial-s")
    if compute["wall_s"] is not None:
        parts.append(f"wall {compute['wall_s']:.1f} s")
    if compute["time_to_best_s"] is not None:
        parts.append(f"best reached after {compute['time_to_best_s']:.1f} s")
    return "compute: " + ", ".join(parts)

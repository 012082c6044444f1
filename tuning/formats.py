"""Rendering a Report: a console table or DESIGN.md's JSON."""

from collections import Counter

from tuning.report import Report, TrialRow


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _row(trial: TrialRow, params: list[str]) -> list[str]:
    return [str(trial.rank), trial.trial_id, trial.status, _fmt(trial.metric), _fmt(trial.epoch),
            str(trial.iterations), *(_fmt(trial.config.get(p)) for p in params)]


def table(report: Report, top: int | None = 10) -> str:
    """A plain-text table of the top trials, with a header saying what is ranked and how."""
    shown = report.trials[:top]
    params = sorted({key for t in report.trials for key in t.config})
    header = ["rank", "trial", "status", report.metric, "epoch", "epochs", *(p.split(".")[-1] for p in params)]
    rows = [header, *(_row(t, params) for t in shown)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    counts = Counter(t.status for t in report.trials)
    scope = "best epoch of each trial" if report.scope == "best" else "last epoch of each trial"
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))
    out = [f"{report.experiment}",
           f"ranked by {report.metric} ({report.mode}), {scope}; {len(report.trials)} trials: {summary or 'none yet'}",
           "", *lines]
    if top is not None and len(report.trials) > top:
        out.append(f"... {len(report.trials) - top} more (--top)")
    errored = [t for t in shown if t.error]
    out += [f"{t.trial_id}: {t.error}" for t in errored]
    return "\n".join(out)


FORMATS = {"table": table, "json": lambda report, top=None: report.to_json(top)}


def render(report: Report, fmt: str = "table", top: int | None = None) -> str:
    """The report in one of FORMATS."""
    return FORMATS[fmt](report, top)

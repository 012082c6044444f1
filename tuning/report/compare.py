"""`tuning compare`: the best trial of several experiments side by side, with the settings that differ.

Settings are compared on each best trial's resolved config (the sweep's model/data/trainer with
the trial's params applied), so a fixed value that differs between two sweep files shows too.
"""

from tuning.errors import UserError
from tuning.expdir import ExpDir
from tuning.report.load import load_report
from tuning.report.text import cell, status_text
from tuning.text import inert


def flatten(data: dict, prefix: str = "") -> dict:
    """{'model': {'init_args': {'lr': 1}}} -> {'model.init_args.lr': 1}."""
    out = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def best_settings(experiment: str, params: dict) -> dict:
    """The flat resolved config of a trial with `params`."""
    from tuning.sweep.space import apply_params

    sweep = ExpDir(experiment).sweep()
    return flatten(apply_params({k: sweep.get(k) or {} for k in ("model", "data", "trainer")}, params))


def comparison(experiments: list[str], scope: str | None = None) -> dict:
    """Per experiment, its best trial; and the settings whose values differ between those trials."""
    if len(experiments) < 2:
        raise UserError("compare: give at least two experiment directories")
    sides = []
    for experiment in experiments:
        report = load_report(experiment, scope=scope)
        best = report.trials[0] if report.trials and report.trials[0].metric is not None else None
        sides.append(
            {
                "experiment": report.experiment,
                "metric": report.metric,
                "mode": report.mode,
                "best": best,
                "trials": len(report.trials),
                "trial_s": report.compute()["trial_s"],
                "settings": best_settings(experiment, best.config) if best else {},
            }
        )
    keys = sorted({k for s in sides for k in s["settings"]})
    differ = [k for k in keys if len({repr(s["settings"].get(k)) for s in sides}) > 1]
    return {"sides": sides, "differ": differ, "same": len(keys) - len(differ)}


def compare(experiments: list[str], scope: str | None = None) -> str:
    """The comparison as a text table, one column per experiment; text from the experiments inert (tuning.text)."""
    data = comparison(experiments, scope)
    sides = data["sides"]
    rows = [["", *(inert(s["experiment"].rstrip("/").rsplit("/", 1)[-1]) for s in sides)]]

    def best(attr):
        return [cell(getattr(s["best"], attr)) if s["best"] else "-" for s in sides]

    rows += [
        ["metric", *(inert(f"{s['metric']} ({s['mode']})") for s in sides)],
        ["best", *best("metric")],
        ["trial", *best("trial_id")],
        ["status", *(status_text(s["best"]) if s["best"] else "-" for s in sides)],
        ["epoch", *best("epoch")],
        ["trials", *(str(s["trials"]) for s in sides)],
        ["trial-s", *(cell(s["trial_s"]) for s in sides)],
    ]
    rows += [[inert(key), *(cell(s["settings"].get(key)) for s in sides)] for key in data["differ"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(8, "")
    notes = [f"{i + 1}: {s['experiment']}" for i, s in enumerate(sides)]
    if len({(s["metric"], s["mode"]) for s in sides}) > 1:
        notes.append("warning: the experiments rank by different metrics; their best values do not compare")
    notes.append(f"settings that differ: {len(data['differ'])} (shown); the same in all: {data['same']}")
    return "\n".join(lines + [""] + [inert(note) for note in notes])

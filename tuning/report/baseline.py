"""The baseline in the report: the trial that ran the sweep's base configuration, and what the search bought over
it (README, "The baseline first" and "Reports").

environment.json records the base configuration's point as the sweep started (tuning.driver.baseline), or why it
had none: the baseline trial is the first trial that ran that point, so nothing here derives it again or imports
user code. The improvement is the best trial's metric (rank 1) against the baseline's, both as the report ranks
them. A confirmation of the sweep next to it (`tuning confirm`, which links back in its confirm.json) measured
the seed noise: the spread of one config's reruns; the improvement is then said to be larger than that noise or
within it.
"""

import math
import os
from pathlib import Path
from typing import Callable

from tuning.expdir import ENVIRONMENT_FILE, ExpDir
from tuning.text import inert

CONFIRM_LINK = "confirm.json"  # the link tuning.driver.confirm writes (its LINK_FILE: the report reads no driver)
NOISE_BAND = 2 * math.sqrt(2)  # two standard deviations of the difference of two single runs, in seed-noise units


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _record(exp: ExpDir) -> dict | None:
    """environment.json's baseline entry; None when it has none (search.baseline off, or an earlier version)."""
    try:
        data = exp.json(ENVIRONMENT_FILE)
    except ValueError:  # cut short: ExpDir.runs warns of it
        return None
    record = data.get("baseline") if isinstance(data, dict) else None
    return record if isinstance(record, dict) else None


def mark_baseline(exp: ExpDir, trials: list, ranked: list, mode: str, load: Callable | None = None) -> dict | None:
    """Mark the baseline trial (`trials` in the order they were created) and say what the search bought over it:
    {"trial_id", "metric", "best", "best_trial_id", "improvement", "relative"} (+ "noise" with a confirmation; `load`:
    the report loader that reads it), or {"trial_id": None, "reason"} when there is no baseline; None when the
    experiment records nothing about one."""
    record = _record(exp)
    if record is None:
        return None
    config = record.get("config")
    if not isinstance(config, dict):
        return {"trial_id": None, "reason": inert(record.get("reason") or "unknown")}
    trial = next((t for t in trials if t.config == config), None)
    if trial is None:
        return {"trial_id": None, "reason": "no trial has run the base configuration yet"}
    trial.baseline = True
    best = ranked[0] if ranked and _finite(ranked[0].metric) else None
    summary = {"trial_id": trial.trial_id, "metric": trial.metric, **improvement(trial.metric, best, mode)}
    noise = seed_noise(exp, load) if load and summary["improvement"] is not None else None
    if noise is not None:
        noise["beyond"] = summary["improvement"] > noise["threshold"]
        summary["noise"] = noise
    return summary


def improvement(baseline, best, mode: str) -> dict:
    """The best trial's metric against the baseline's: improvement > 0 is better (lower for min, higher for max);
    relative to the baseline's magnitude (None when it is 0). None throughout without both values."""
    if best is None or not _finite(baseline):
        return {"best": None, "best_trial_id": None, "improvement": None, "relative": None}
    gained = baseline - best.metric if mode == "min" else best.metric - baseline
    return {
        "best": best.metric,
        "best_trial_id": best.trial_id,
        "improvement": gained,
        "relative": gained / abs(baseline) if baseline else None,
    }


def confirmations(exp: ExpDir) -> list[str]:
    """The confirmation experiments of this sweep beside it (the directory tuning confirm puts them in), by name;
    none for an experiment on a URI."""
    if "://" in exp.display:
        return []
    parent, found = Path(exp.base).parent, []
    try:
        names = sorted(e.name for e in os.scandir(parent) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    for name in names:
        if name == Path(exp.base).name or not (parent / name / CONFIRM_LINK).is_file():
            continue
        try:
            link = ExpDir(str(parent / name), shallow=True).json(CONFIRM_LINK)
        except ValueError:
            continue
        if isinstance(link, dict) and link.get("source") == exp.base:
            found.append(str(parent / name))
    return found


def seed_noise(exp: ExpDir, load: Callable) -> dict | None:
    """The seed noise the sweep's confirmations measured: the pooled standard deviation of each rerun config's
    metric, and the band an improvement must pass to be larger than it (NOISE_BAND of them); None without a
    confirmation that reran a config at least twice."""
    runs, linked = {}, confirmations(exp)
    for confirm in linked:
        for trial in load(confirm).trials:
            if _finite(trial.metric):
                runs.setdefault(repr(sorted(trial.config.items())), []).append(trial.metric)
    groups = [values for values in runs.values() if len(values) > 1]
    freedom = sum(len(values) - 1 for values in groups)
    if not freedom:
        return None
    squares = sum(sum((v - sum(values) / len(values)) ** 2 for v in values) for values in groups)
    std = math.sqrt(squares / freedom)
    return {
        "std": std,
        "threshold": NOISE_BAND * std,
        "configs": len(groups),
        "runs": sum(len(values) for values in groups),
        "confirmations": linked,
    }


def baseline_line(report) -> str | None:
    """The report header's line on the baseline (inert: metric names and ids come from the experiment); None when
    the experiment records nothing about one."""
    base = report.baseline
    if base is None:
        return None
    if base.get("trial_id") is None:
        return inert(f"baseline: none ({base.get('reason')})")
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    line = f"baseline: trial {base['trial_id']}, {report.metric} {fmt(base['metric'])}"
    if base["improvement"] is None:
        return inert(line + "; no improvement to measure yet")
    relative = "" if base["relative"] is None else f" ({base['relative']:+.1%})"
    line += (
        f"; best: trial {base['best_trial_id']}, {fmt(base['best'])}; improvement {fmt(base['improvement'])}{relative}"
    )
    noise = base.get("noise")
    if noise:
        verdict = "larger than" if noise["beyond"] else "within"
        line += (
            f"; {verdict} the seed noise (std {fmt(noise['std'])} over {noise['configs']} configs rerun by "
            f"tuning confirm: larger means above {fmt(noise['threshold'])})"
        )
    return inert(line)

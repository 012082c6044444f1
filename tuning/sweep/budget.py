"""`search.budget` and `search.stop`: when a sweep ends before its num_samples trials have run.

A budget is what the user can spend (wall time, trials, resource-hours); a stop rule ends the sweep when more
search cannot help (the best stopped improving, or the room left for improvement is below the noise). The driver
enforces both (tuning.driver.budget); the report says which ended the sweep (tuning.report.ending).
"""

import math
import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # a duration's unit -> seconds
_DURATION = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([smhd]?)\s*$")


def seconds(value) -> float:
    """A duration in seconds: a number of seconds, or a number with a unit (`45s`, `90m`, `2h`, `1d`); a ValueError
    saying what is accepted otherwise (zero and negative durations too: no sweep can be run in them)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        number = None
    elif isinstance(value, str):
        match = _DURATION.match(value)
        number = float(match[1]) * UNITS[match[2] or "s"] if match else None
    else:
        number = float(value)
    if number is None or not math.isfinite(number):
        raise ValueError(
            f"must be a duration: a number of seconds, or a number with a unit s, m, h or d (45s, 90m, 2h), "
            f"got {value!r}"
        )
    if number <= 0:
        raise ValueError(f"must be a duration above 0 (no trial runs in {value!r})")
    return number


def duration_text(value: float) -> str:
    """7200 -> '2h', 5400 -> '90m', 45 -> '45s', 2.5 -> '2.5s': the largest unit it is a whole number of."""
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComputeSpec(_Section):
    """Resource-hours the sweep may spend: each trial's resources x its run time, as the report accounts them."""

    gpu_hours: Optional[float] = Field(None, gt=0, description="GPU-hours: resources.gpu x workers x each trial's time")
    cpu_hours: Optional[float] = Field(None, gt=0, description="CPU-hours: resources.cpu x workers x each trial's time")

    @model_validator(mode="after")
    def _some(self):
        if self.gpu_hours is None and self.cpu_hours is None:
            raise ValueError("name gpu_hours or cpu_hours (or both), e.g. {gpu_hours: 8}")
        return self


class BudgetSpec(_Section):
    """What the sweep may spend; the first limit reached ends it (no new trial starts)."""

    time: Optional[float] = Field(
        None, description="wall time of the sweep, over all its runs: seconds, or 45s, 90m, 2h, 1d"
    )
    trials: Optional[int] = Field(None, ge=1, description="trials started, at most")
    compute: Optional[ComputeSpec] = Field(None, description="resource-hours: {gpu_hours: X} or {cpu_hours: X}")
    finish_running: bool = Field(
        False,
        description="at the limit, let running trials run to their end (default: each stops after its current epoch)",
    )

    @field_validator("time", mode="before")
    @classmethod
    def _duration(cls, value):
        return None if value is None else seconds(value)

    @model_validator(mode="after")
    def _some(self):
        if self.time is None and self.trials is None and self.compute is None:
            raise ValueError("name time, trials or compute (any of them; the first reached ends the sweep)")
        return self


class PlateauSpec(_Section):
    """The best stopped improving: over the last `trials` finished trials by no more than `min_delta`."""

    trials: int = Field(ge=1, description="the window: finished trials without an improvement")
    min_delta: float = Field(
        0.0, ge=0, description="an improvement of the best by no more than this does not count (metric units)"
    )


class StopSpec(_Section):
    """End the sweep when more search cannot help; with both, the first that holds."""

    plateau: Optional[PlateauSpec] = Field(
        None, description="no improvement of the best (of the front's hypervolume) in the last N finished trials"
    )
    regret: Optional[Literal["auto"]] = Field(
        None, description="auto: when the estimated room for improvement is below the trial-to-trial noise"
    )

    @model_validator(mode="after")
    def _some(self):
        if self.plateau is None and self.regret is None:
            raise ValueError("name plateau ({trials: N, min_delta: D}) or regret (auto)")
        return self


def search_problem(search) -> str | None:
    """What makes a search section's budget or stop rule one that cannot be enforced, as `key]: message` (the
    config's per-key form), or None. Both need a searcher that can go on (a resume with more budget continues the
    study); the regret rule a single objective (Optuna's Terminator is single-objective)."""
    from tuning.search.pareto import is_multi
    from tuning.search.registry import either, names_with
    from tuning.search.searchers import SEARCHERS

    for key in ("budget", "stop"):
        if getattr(search, key, None) is not None and not SEARCHERS[search.searcher.name].can_extend:
            return (
                f"{key}]: needs a searcher that continues when the sweep is resumed with more budget "
                f"({either(names_with(SEARCHERS, can_extend=True))}); this one's is {search.searcher.name}. "
                "For random search, use search.searcher: {name: optuna, sampler: random}"
            )
    if search.stop is not None and search.stop.regret and is_multi(search):
        return (
            "stop.regret]: estimates the room for improvement of one objective; with several, use "
            "stop.plateau (it watches the hypervolume of the Pareto front)"
        )
    return None


RESUME_KEYS = ("search.budget", "search.stop")  # what `tuning resume --set` may change


def resume_override_problem(override: str) -> str | None:
    """Why `KEY=VALUE` may not be given to `tuning resume --set`, or None: only the budget and stop rules change."""
    key = override.partition("=")[0].strip()
    if "=" not in override:
        return f"--set {override}: expected KEY=VALUE, e.g. search.budget.time=3h"
    if any(key == allowed or key.startswith(f"{allowed}.") for allowed in RESUME_KEYS):
        return None
    return (
        f"--set {key}: a resume changes only the budget and stop rules ({', '.join(k + '.*' for k in RESUME_KEYS)}); "
        "the rest of the sweep is what its trials ran with"
    )


def _hours(value) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else "?"


def ending_text(ending: dict) -> str:
    """One sentence: which budget or stop rule ended the sweep, when, and what it spent (the driver prints it as the
    sweep ends; every report format shows it). `ending`: what tuning.driver.budget records in environment.json."""
    by, limit, spent = ending.get("by"), ending.get("limit"), ending.get("spent") or {}
    detail = ending.get("detail") or {}
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    if by == "time" and number(limit):
        why = f"its time budget ({duration_text(limit)}) was reached"
    elif by == "trials":
        why = f"its trials budget ({limit}) was used: no more trials started"
    elif by in ("gpu_hours", "cpu_hours"):
        kind = by.split("_")[0].upper()
        why = f"its compute budget ({_hours(limit)} {kind}-hours) was reached"
    elif by == "plateau" and isinstance(limit, dict):
        what = "the Pareto front's hypervolume" if detail.get("measure") == "hypervolume" else "the best"
        gain = detail.get("improvement")
        why = (
            f"search.stop.plateau held: {what} improved by {gain:.4g} (no more than min_delta "
            f"{limit.get('min_delta')}) over the last {limit.get('trials')} finished trials"
            if number(gain)
            else "search.stop.plateau held"
        )
    elif by == "regret":
        bound, noise = detail.get("regret_bound"), detail.get("noise")
        why = (
            f"search.stop.regret held: the room left for improvement (regret bound {bound:.4g}) is below the "
            f"trial-to-trial noise ({noise:.4g}: sqrt(2) x one trial's, measured from "
            f"{detail.get('noise_from') or 'the sweep'})"
            if number(bound) and number(noise)
            else "search.stop.regret held"
        )
    else:
        why = f"{by} ended it"
    parts = [f"spent {duration_text(round(spent['time_s'], 1) or 0.1)}"] if number(spent.get("time_s")) else []
    parts += [f"{spent['trials']} trials"] if number(spent.get("trials")) else []
    parts += [f"{_hours(spent[k])} {k.split('_')[0].upper()}-hours" for k in ("gpu_hours", "cpu_hours") if spent.get(k)]
    stopped = ending.get("stopped") or []
    cut = f"; {len(stopped)} running trial(s) stopped after their current epoch" if stopped else ""
    after = f" after {ending['finished']} finished trials" if number(ending.get("finished")) else ""
    return f"sweep ended early{after}: {why}; {', '.join(parts) or 'nothing spent'}{cut}"

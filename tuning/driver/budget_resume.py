"""`tuning resume` of a sweep with a budget or stop rule: `--set search.budget.*` / `search.stop.*` raises or changes
them, `--more K` adds K trials (to the trials budget too), and a sweep that a budget or rule ended continues where it
stopped, its searcher's study and scheduler as they were (tuning.driver.budget enforces them as the run goes).
"""

import sys
from pathlib import Path

from tuning.driver.budget import RULES
from tuning.errors import UserError
from tuning.sweep.budget import resume_override_problem


def with_overrides(cfg, overrides: list[str]):
    """The experiment's sweep with `tuning resume --set` applied: only search.budget.* and search.stop.* keys, and
    only on a sweep that started with a budget or stop rule (its Tuner holds the SweepBudget); a UserError naming
    the key otherwise. Changes nothing on disk."""
    if not overrides:
        return cfg
    for override in overrides:
        problem = resume_override_problem(override)
        if problem:
            raise UserError(problem)
    if cfg.search.budget is None and cfg.search.stop is None:
        key = overrides[0].partition("=")[0].strip()
        raise UserError(
            f"--set {key}: this sweep started without a budget or stop rule, and a resume cannot add one (Ray Tune "
            "keeps the sweep's stopping as it started it); run it anew with search.budget or search.stop"
        )
    from tuning.sweep.config import parse_sweep
    from tuning.sweep.file import apply_overrides

    return parse_sweep(apply_overrides(cfg.to_dict(), list(overrides)), origin="tuning resume --set")


def _ending(local) -> dict | None:
    """What ended the sweep early, as its last run recorded it (None: it was not ended by a budget or rule)."""
    from tuning.driver.environment import recorded_runs

    runs = recorded_runs(local)
    ending = runs[-1].get("ended_by") if runs and runs[-1].get("outcome") == "finished" else None
    return ending if isinstance(ending, dict) else None


def check_continue(local, cfg, more: int, changed: bool = False) -> None:
    """A UserError naming the key when a sweep a budget or stop rule ended would end again at once: the limit it
    reached is not raised (by --set, or for the trials budget by --more), or the rule is neither changed (`changed`:
    --set was given) nor given more trials. Read from the experiment's files; changes nothing."""
    ending, budget = _ending(local), cfg.search.budget
    if isinstance(ending, dict) and ending.get("by") in RULES and not (more or changed):
        raise UserError(
            f"search.stop.{ending['by']}: the sweep ended when this rule held; continue it with --more K (the rule "
            f"then counts afresh) or change the rule with --set search.stop... (nothing was changed)"
        )
    if not isinstance(ending, dict) or ending.get("by") in RULES or budget is None:
        return
    by, spent, reached = ending.get("by"), ending.get("spent") or {}, ending.get("limit")
    limit = {"time": budget.time, "trials": budget.trials and budget.trials + more}.get(by)
    if by in ("gpu_hours", "cpu_hours"):
        limit = getattr(budget.compute, by) if budget.compute else None
    used = {"time": spent.get("time_s"), "trials": spent.get("trials")}.get(by, spent.get(by))
    key = f"search.budget.{'compute.' if by.endswith('_hours') else ''}{by}"
    if limit is not None and isinstance(reached, (int, float)) and limit <= reached:
        hint = " or add trials with --more K" if by == "trials" else ""
        raise UserError(
            f"{key}: the sweep ended when this budget ({reached:g}) was reached (spent {used}); raise it to "
            f"continue: tuning resume EXPERIMENT --set {key}=<more>{hint} (nothing was changed)"
        )


def continue_sweep(exp_dir, local, cfg, overrides: list[str], more: int):
    """Write the raised budget to sweep.yaml and let Tune's saved search go on (a budget or rule marked it finished);
    return the sweep as it now is. With --more K the trials budget grows by K, and a sweep a budget or rule ended
    gets K trials more than it had (a trials budget of that many, made if it had none). Called last before the fit,
    as tuning.driver.resume.extend is: a resume refused before leaves the experiment as it was."""
    from tuning.sweep.budget import BudgetSpec

    budget, ending = cfg.search.budget, _ending(local) or {}
    started = (ending.get("spent") or {}).get("trials")
    if more and ending.get("by") not in (None, "trials") and isinstance(started, int):  # K more than it had
        budget = (budget or BudgetSpec(trials=started + more)).model_copy(update={"trials": started + more})
    elif more and budget is not None and budget.trials is not None:  # ended by it, or interrupted: K more in it
        budget = budget.model_copy(update={"trials": budget.trials + more})
    cfg = cfg.model_copy(update={"search": cfg.search.model_copy(update={"budget": budget})})
    if not overrides and not (more and (budget is not None or cfg.search.stop is not None)):
        return cfg
    import yaml

    from tuning.compat import tune as tune_compat
    from tuning.expdir import SWEEP_FILE

    def write(directory):
        try:  # finished=False: the budget judges afresh as the run starts
            tune_compat.extend_search(str(directory), 0)
        except ValueError as exc:
            raise UserError(f"--set: {exc}; the sweep stopped before Ray Tune saved its search") from None
        staged = directory / f".{SWEEP_FILE}.budget"
        staged.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        staged.replace(directory / SWEEP_FILE)

    if isinstance(exp_dir, Path):
        write(local)
    else:
        from tuning.driver.uri_resume import digests, write_back

        before = digests(local)
        write(local)
        write_back(local, before, exp_dir)
    print("continuing the sweep under its budget: " + _limits(cfg), file=sys.stderr, flush=True)
    return cfg


def _limits(cfg) -> str:
    """The budget and stop rules in words, for the resume's first line."""
    parts = []
    budget, stop = cfg.search.budget, cfg.search.stop
    if budget is not None:
        parts += [f"time {budget.time:g} s"] if budget.time is not None else []
        parts += [f"trials {budget.trials}"] if budget.trials is not None else []
        if budget.compute is not None:
            parts += [f"{k} {v:g}" for k, v in budget.compute.model_dump().items() if v is not None]
    if stop is not None:
        parts += [f"stop {k}" for k, v in stop.model_dump().items() if v is not None]
    return ", ".join(parts) or "none"

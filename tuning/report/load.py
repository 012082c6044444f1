"""The ranked trial report, read from an experiment directory alone: no Ray, no unpickling.

Sources, all plain text: the resolved `sweep.yaml`, Tune's `experiment_state-*.json`
(trial status), each trial's `result.json` (one line per epoch), `trial.json` (seed, node) and
`error.txt`. Partial files from a crash are read up to the last whole line. The directory may be
local or on any filesystem pyarrow opens (`s3://bucket/runs/exp`).
"""

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tuning.bounded import Unreadable, load_json, number, open_regular, read_limited, reason
from tuning.errors import UserError
from tuning.expdir import MAX_FILE_BYTES, STATUS, STATUSES, TRIAL_FILE, ExpDir, budget, tune_states
from tuning.report.baseline import mark_baseline
from tuning.report.ending import read_ending
from tuning.search.pareto import objectives, pareto_ranks
from tuning.sweep.space import conditional_keys, flat_specs

# Keys Tune adds to every result: everything else numeric in a result row is a logged metric.
TUNE_KEYS = {
    "timestamp",
    "checkpoint_dir_name",
    "should_checkpoint",
    "done",
    "training_iteration",
    "trial_id",
    "date",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "config",
    "time_since_restore",
    "iterations_since_restore",
    "experiment_tag",
    "episodes_total",
    "timesteps_total",
    "timesteps_since_restore",
}


@dataclass
class TrialRow:
    """One trial as the report shows it (field names are the report JSON's)."""

    trial_id: str
    status: str
    metric: float | None = None
    epoch: int | None = None
    config: dict = field(default_factory=dict)
    iterations: int = 0
    time_s: float = 0.0
    checkpoint: str | None = None  # the ranked epoch's, if kept (else see checkpoint_epoch)
    checkpoint_epoch: int | None = None  # the epoch of `checkpoint`: `epoch` unless that one was not kept
    error: str | None = None
    metrics: dict = field(default_factory=dict)  # the other logged metrics at `epoch`
    stopped_at: int | None = None  # the iteration at which the scheduler stopped it
    budget: int | None = None  # the iterations it would have run, unstopped
    node: str | None = None  # hostname of the Ray node it ran on
    node_id: str | None = None
    seed: int | None = None
    checkpoints: int = 0  # kept checkpoint directories
    checkpoint_bytes: int = 0
    model_checkpoints: int = 0  # .ckpt files the sweep's own ModelCheckpoint callbacks kept
    gpu_s: float = 0.0
    reached_at: float | None = None  # unix time of the ranked result
    rank: int = 0
    values: list | None = None  # several objectives: one per metric, at `epoch` (the first metric's scope)
    pareto_rank: int | None = None  # several objectives: 1 = no trial dominates it, 2 = only rank-1 ones, ...
    baseline: bool = False  # it ran the sweep's base configuration (tuning.report.baseline)


@dataclass
class Report:
    """Trials of one experiment in rank order, with every reported result for curves and exports."""

    experiment: str
    metric: str
    mode: str
    scope: str
    trials: list[TrialRow]
    space: dict = field(default_factory=dict)  # the sweep's search space as written, branches flattened: key -> spec
    results: list[dict] = field(default_factory=list)  # trial_id, training_iteration, metrics: every result
    statuses: tuple | None = None  # --status: only trials with these statuses are shown
    objectives: list = field(default_factory=list)  # several objectives: their (metric, mode) pairs; else empty
    conditional: tuple = ()  # keys of `space` only some branches of a conditional choice sample (absent elsewhere)
    name: str = ""  # the sweep's name and description (sweep.yaml), for the HTML page's title
    description: str = ""
    baseline: dict | None = None  # the baseline and what the search bought over it (tuning.report.baseline)
    ended: dict | None = None  # the budget or stop rule that ended the sweep, and what it spent (report.ending)

    def shown(self, top: int | None = None) -> list[TrialRow]:
        """The trials to show: the status filter, then the best `top`; ranks stay those among all trials."""
        trials = [t for t in self.trials if not self.statuses or t.status in self.statuses]
        return trials[:top]

    def compute(self) -> dict:
        """Compute accounting over all trials (see `compute_summary`)."""
        return compute_summary(self)

    def to_dict(self, top: int | None = None, importance: dict | None = None) -> dict:
        """The report JSON (README, "Reports"), plus extra keys (per-trial details, compute, importance)."""
        # vars, not asdict: asdict deep-copies every config and metrics dict (0.2 s on 1000 trials), and
        # _no_nan below copies them anyway.
        # values and pareto_rank are keys of a multi-objective report only: a single-objective one is unchanged.
        skip = {"rank"} if self.objectives else {"rank", "values", "pareto_rank"}
        skip |= set() if (self.baseline or {}).get("trial_id") else {"baseline"}  # marked where there is one
        trials = [{"rank": t.rank, **{k: v for k, v in vars(t).items() if k not in skip}} for t in self.shown(top)]
        data = {
            "experiment": self.experiment,
            "metric": self.metric,
            "mode": self.mode,
            "scope": self.scope,
            "trials": trials,
            "compute": self.compute(),
        }
        if self.objectives:
            data.update(metrics=[m for m, _ in self.objectives], modes=[m for _, m in self.objectives])
        if self.baseline is not None:
            data["baseline"] = self.baseline
        if self.ended is not None:
            data["ended"] = self.ended
        if importance is not None:
            data["importance"] = importance
        return _no_nan(data)

    def to_json(self, top: int | None = None, importance: dict | None = None) -> str:
        """The report JSON as text (strict JSON: NaN and inf become null)."""
        return json.dumps(self.to_dict(top, importance), indent=2, allow_nan=False, default=str)


def _no_nan(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def _row_problem(row) -> str | None:
    """Why a parsed result.json line is not a result this report can use; None when it is one."""
    if not isinstance(row, dict) or not isinstance(row.get("config", {}), dict):
        return "a line that is not a result (a JSON object Tune writes)"
    iteration = row.get("training_iteration")
    if not (isinstance(iteration, int) and not isinstance(iteration, bool) and 0 <= iteration < 1 << 31):
        return f"a line that is not a result (training_iteration is {iteration!r:.40})"
    for key, ok in (
        ("trial_id", str),
        ("checkpoint_dir_name", str),
        ("hostname", str),
        ("ended_by", str),
        ("time_total_s", number),
        ("timestamp", number),
    ):
        value = row.get(key)
        if value is not None and not (ok(value) if ok is number else isinstance(value, ok)):
            return f"a line that is not a result ({key} is {value!r:.40})"
    return None


def parse_rows(text: str | None, where: str) -> list[dict]:
    """Rows of a result.json; a truncated or corrupt line is skipped, with one warning for the file."""
    rows, skipped = [], []
    for line_no, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = load_json(line)
        except ValueError as exc:  # a line cut short by a crash, or nested deeper than any result
            skipped.append(
                (
                    line_no,
                    "an unreadable line (interrupted write?)"
                    if isinstance(exc, json.JSONDecodeError)
                    else f"an unreadable line ({exc})",
                )
            )
            continue
        problem = _row_problem(row)
        if problem:
            skipped.append((line_no, problem))
        else:
            rows.append(row)
    if skipped:  # one warning per file: a file of a million bad lines is one line on the terminal
        more = f"; {len(skipped) - 1} more line(s) skipped" if len(skipped) > 1 else ""
        warnings.warn(f"{where}:{skipped[0][0]}: skipped {skipped[0][1]}{more}")
    return rows


def read_results(path: Path) -> list[dict]:
    """Rows of a local result.json file (read as an experiment's files are: a regular file, bounded)."""
    try:
        with open_regular(str(path), os.path.realpath(Path(path).parent)) as handle:
            text = read_limited(handle, os.fstat(handle.fileno()).st_size, MAX_FILE_BYTES).decode(errors="replace")
    except (OSError, Unreadable):
        return []
    return parse_rows(text, str(path))


def _trial_dirs(exp: ExpDir) -> dict[str, tuple[str, list[dict]]]:
    """Trial id -> (directory, result rows), for every directory holding Tune's params.json."""
    found = {}
    for name in exp.children():
        if not exp.listed(f"{name}/params.json"):  # only its presence counts: nothing reads it
            continue
        rows = parse_rows(exp.text(f"{name}/result.json"), exp.path(f"{name}/result.json"))
        trial_id = rows[0].get("trial_id") if rows and rows[0].get("trial_id") else name
        found[trial_id] = (name, rows)
    return found


def _best_row(rows: list[dict], metric: str, mode: str, scope: str, also: tuple = ()) -> dict | None:
    """The row at the scope's epoch by `metric`, among rows where it (and every metric in `also`) is finite."""
    scored = [r for r in rows if finite(r.get(metric)) and all(finite(r.get(m)) for m in also)]
    if not scored:
        return None
    if scope == "last":
        return scored[-1]
    return (min if mode == "min" else max)(scored, key=lambda r: r[metric])


def finite(value) -> bool:
    """A real, finite number (not bool, NaN or inf, nor an int beyond 64 bits: no format holds one)."""
    return number(value) and math.isfinite(value)


def _checkpoint(
    exp: ExpDir, name: str, rows: list[dict], best: dict | None, metric: str, mode: str
) -> tuple[str | None, int | None]:
    """The kept checkpoint of the ranked result `best`, and its epoch.

    The ranked row's own checkpoint, else one of the same epoch (a retry ran it again); when neither was kept
    (run.keep_checkpoints), the kept one with the best metric, earliest first. Epochs come from Tune's
    result rows, which name each report's checkpoint directory: no checkpoint is opened.
    """
    kept = [d for d in exp.children(name) if d.startswith("checkpoint_")]
    if not kept:
        return None, None
    rows_of = {r["checkpoint_dir_name"]: r for r in rows if r.get("checkpoint_dir_name") in kept}
    epoch = best.get("training_iteration") if best else None
    sign = 1 if mode == "min" else -1

    def order(directory: str) -> tuple:
        row = rows_of.get(directory, {})
        value = row.get(metric)
        return (
            directory != (best or {}).get("checkpoint_dir_name"),
            epoch is None or row.get("training_iteration") != epoch,
            not finite(value),
            sign * value if finite(value) else 0,
            directory,
        )

    chosen = min(kept, key=order)
    return exp.path(f"{name}/{chosen}"), rows_of.get(chosen, {}).get("training_iteration")


def _error(exp: ExpDir, name: str) -> str | None:
    text = exp.text(f"{name}/error.txt")
    if text is None:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def metrics_of(row: dict) -> dict:
    """The logged metrics of one result row (numbers that Tune did not add itself)."""
    return {k: v for k, v in row.items() if k not in TUNE_KEYS and number(v)}


def trial_info(exp: ExpDir, name: str) -> dict:
    """Our trial.json (seed, params, node); empty, with one warning naming it, if it is cut short or not ours."""
    try:
        info = exp.json(f"{name}/{TRIAL_FILE}") or {}
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        for key, kind in (("params", dict), ("seed", int), ("hostname", str), ("node_id", str)):
            value = info.get(key)
            if value is not None and not (isinstance(value, kind) and (kind is not int or number(value))):
                raise ValueError(f"{key} is {value!r:.40}")
    except ValueError as exc:
        gist = "interrupted write?" if isinstance(exc, json.JSONDecodeError) else reason(exc)
        warnings.warn(f"{exp.path(name)}/{TRIAL_FILE}: unreadable ({gist}); seed and node unknown")
        return {}
    return info


def _holds(spec: dict, value) -> bool:
    """Whether `value` is one an entry of the kind of `spec` (as sweep.yaml writes it) could give: of a choice
    or grid, a member or any plain value; of a range, a finite number (an int of randint, positive on a log
    scale); of a kind this version does not know, any plain value."""
    kind = next(iter(spec), None)
    if kind in ("uniform", "quniform", "loguniform", "qloguniform", "randint"):
        return finite(value) and ("log" not in kind or value > 0) and (kind != "randint" or isinstance(value, int))
    plain = value is None or isinstance(value, (str, bool)) or number(value)
    # a member is kept as the sweep wrote it (a list, a mapping), but an int no format can hold never
    return (
        plain
        or kind in ("choice", "grid")
        and not isinstance(value, int)
        and _contains(spec[kind] if isinstance(spec[kind], list) else [], value)
    )


def searched_params(exp: ExpDir, name: str | None, config: dict, space: dict) -> dict:
    """The trial's values of the searched keys; a value no entry of that kind could hold is left out, warned."""
    params = {}
    for key, value in config.items():
        if key not in space:
            continue
        if _holds(space[key], value):
            params[key] = value
        else:
            kind = next(iter(space[key]), None)
            warnings.warn(f"{exp.path(name or '?')}: left out {key}={value!r:.80}, not a value of its {kind} entry")
    return params


def _kind(value) -> str:
    return "number" if number(value) else type(value).__name__


def _one_kind_per_param(exp: ExpDir, trials: list[TrialRow], space: dict) -> None:
    """Leave out (warned) a param value that is none of its entry's and of another kind than the rest of its
    column: a table (csv, parquet) holds one kind per column, and an entry's values share one unless the
    sweep mixes them itself (choice: [1, "a"]), which a value is kept for."""
    for key, spec in space.items():
        args = next(iter(spec.values()), None)
        members = args if isinstance(args, list) else []
        values = [t.config[key] for t in trials if t.config.get(key) is not None]
        kinds = {_kind(v) for v in values if _contains(members, v)} or {
            max(sorted({_kind(v) for v in values}), key=[_kind(v) for v in values].count, default=None)
        }
        for trial in trials:
            value = trial.config.get(key)
            if value is not None and _kind(value) not in kinds and not _contains(members, value):
                del trial.config[key]
                warnings.warn(
                    f"{exp.display}: trial {trial.trial_id}: left out {key}={value!r:.80}, of another "
                    "kind than its entry's other values"
                )


def _contains(values: list, value) -> bool:
    try:
        return value in values
    except TypeError:
        return False


def _trial_row(
    exp: ExpDir,
    trial_id: str,
    status: str,
    name: str | None,
    rows: list[dict],
    sweep: dict,
    scope: str,
    finished: bool,
    specs: dict,
) -> TrialRow:
    """`specs`: flat_specs of the sweep's space (the same for every trial: parsed once by the caller)."""
    search = sweep["search"]
    pairs = objectives(search)
    (metric, mode), others = pairs[0], [m for m, _ in pairs[1:]]  # several objectives: ranked by the first's epoch
    info = trial_info(exp, name) if name else {}
    last = rows[-1] if rows else {}
    params = searched_params(exp, name, last.get("config") or info.get("params") or {}, specs)
    iterations = last.get("training_iteration", 0)
    limit = budget(sweep, params)
    if status == "pending" and iterations and (finished or limit and iterations >= limit):
        # HyperBand can leave a trial PAUSED at its rung when it ends it (a finished sweep waits for none),
        # or at its last rung having run its whole budget: it is done, stopped or not.
        status = "completed"
    # Fewer reports than the budget's epochs is a stop (the scheduler's, or the user's EarlyStopping), unless
    # the Trainer ran its budget (it reports per validation, not per epoch, or stopped at max_steps/max_time).
    stopped = status == "completed" and last.get("ended_by") != "trainer" and limit and iterations < limit
    stopped_at = iterations if stopped else None
    best = _best_row(rows, metric, mode, scope, tuple(others))
    checkpoint, checkpoint_epoch = _checkpoint(exp, name, rows, best, metric, mode) if name else (None, None)
    res = sweep.get("resources") or {}
    time_s = round(last["time_total_s"], 2) if finite(last.get("time_total_s")) else 0.0
    checkpoints = [d for d in exp.children(name) if d.startswith("checkpoint_")] if name else []
    return TrialRow(
        trial_id=trial_id,
        status="stopped_early" if stopped_at else status,
        metric=best[metric] if best else None,
        epoch=best.get("training_iteration") if best else None,
        config=params,
        iterations=iterations,
        time_s=time_s,
        checkpoint=checkpoint,
        checkpoint_epoch=checkpoint_epoch,
        error=_error(exp, name) if name and status == "errored" else None,
        metrics={k: v for k, v in metrics_of(best).items() if k != metric} if best else {},
        stopped_at=stopped_at,
        budget=limit,
        node=info.get("hostname") or last.get("hostname"),
        node_id=info.get("node_id"),
        seed=info.get("seed"),
        checkpoints=len(checkpoints),
        checkpoint_bytes=sum(exp.size_below(f"{name}/{c}") for c in checkpoints),
        model_checkpoints=exp.ckpt_files.get(name, 0) if name else 0,
        gpu_s=round(time_s * float(res.get("gpu") or 0) * max(1, int(res.get("workers") or 1)), 2),
        reached_at=best.get("timestamp") if best else None,
        values=[best[m] for m, _ in pairs] if best and others else None,
    )


def rank_pareto(trials: list[TrialRow], modes: list[str]) -> list[TrialRow]:
    """Several objectives: Pareto rank by non-dominated sorting of `values`, then the first value, then trial
    id; trials without values last."""
    for trial, pareto in zip(trials, pareto_ranks([t.values for t in trials], modes)):
        trial.pareto_rank = pareto
    sign = 1 if modes[0] == "min" else -1
    ordered = sorted(
        trials,
        key=lambda t: (
            t.pareto_rank is None,
            t.pareto_rank or 0,
            sign * t.metric if finite(t.metric) else 0,
            t.trial_id,
        ),
    )
    for position, trial in enumerate(ordered, 1):
        trial.rank = position
    return ordered


def rank(trials: list[TrialRow], mode: str) -> list[TrialRow]:
    """Sort best first; trials without a finite metric last; ties broken by trial id."""
    sign = 1 if mode == "min" else -1
    ordered = sorted(
        trials, key=lambda t: (not finite(t.metric), sign * t.metric if finite(t.metric) else 0, t.trial_id)
    )
    for position, trial in enumerate(ordered, 1):
        trial.rank = position
    return ordered


def parse_statuses(value: str | None) -> tuple | None:
    """`--status completed,stopped_early` -> a tuple of statuses; None shows all."""
    if not value:
        return None
    wanted = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise UserError(f"--status: unknown status '{unknown[0]}'; allowed: {', '.join(STATUSES)} (comma-separated)")
    return wanted


def load_report(experiment: str, scope: str | None = None, status: str | None = None) -> Report:
    """Read and rank an experiment directory (finished, interrupted or still running).

    `scope`: best or last epoch of each trial; None takes the sweep's search.scope (best by default).
    """
    if scope not in (None, "best", "last"):
        raise UserError(f"--scope: must be best or last, got '{scope}'")
    statuses = parse_statuses(status)
    exp = ExpDir(experiment)
    sweep = exp.sweep()
    scope = scope or sweep["search"].get("scope") or "best"
    dirs = _trial_dirs(exp)
    states = tune_states(exp) or [{"trial_id": t, "status": "TERMINATED"} for t in sorted(dirs)]
    trials, results, finished = [], [], exp.last_outcome() == "finished"
    specs = flat_specs(sweep["search"]["space"])
    for state in states:
        name, rows = dirs.get(state["trial_id"], (None, []))
        if name is None and state.get("relative_logdir") in exp.children():
            name = state["relative_logdir"]
        trials.append(
            _trial_row(
                exp,
                state["trial_id"],
                STATUS.get(state["status"], state["status"].lower()),
                name,
                rows,
                sweep,
                scope,
                finished,
                specs,
            )
        )
        results += [
            {
                "trial_id": state["trial_id"],
                "training_iteration": r.get("training_iteration"),
                "time_total_s": r.get("time_total_s"),
                "timestamp": r.get("timestamp"),
                **metrics_of(r),
            }
            for r in rows
        ]
    _one_kind_per_param(exp, trials, specs)
    search, pairs = sweep["search"], objectives(sweep["search"])
    several = pairs if len(pairs) > 1 else []
    ranked = rank_pareto(trials, [m for _, m in pairs]) if several else rank(trials, search["mode"])
    return Report(
        exp.display,
        pairs[0][0],
        pairs[0][1],
        scope,
        ranked,
        space=specs,
        results=results,
        statuses=statuses,
        objectives=several,
        conditional=tuple(conditional_keys(search["space"])),
        name=str(sweep.get("name") or ""),
        description=str(sweep.get("description") or ""),
        baseline=mark_baseline(exp, trials, ranked, pairs[0][1], load_report),
        ended=read_ending(exp),
    )


def compute_summary(report: Report) -> dict:
    """Trial-seconds, GPU-seconds, what early stopping saved (estimated), time to the best result."""
    # Early stopping saved, estimated: each stopped trial at its own mean epoch time up to its budget.
    saved = sum(
        t.time_s / t.iterations * (t.budget - t.iterations)
        for t in report.trials
        if t.stopped_at and t.budget and t.iterations
    )
    starts = [
        r["timestamp"] - (r["time_total_s"] or 0)
        for r in report.results
        if finite(r.get("timestamp")) and finite(r.get("time_total_s"))
    ]
    start = min(starts) if starts else None
    ends = [r["timestamp"] for r in report.results if finite(r.get("timestamp"))]
    best = report.trials[0] if report.trials and report.trials[0].metric is not None else None
    return {
        "trials": len(report.trials),
        "trial_s": round(sum(t.time_s for t in report.trials), 2),
        "gpu_s": round(sum(t.gpu_s for t in report.trials), 2),
        "saved_s": round(saved, 2),
        "wall_s": round(max(ends) - start, 2) if start is not None else None,
        "time_to_best_s": round(best.reached_at - start, 2) if best and best.reached_at and start else None,
    }

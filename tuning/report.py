"""The ranked trial report, read from an experiment directory alone: no Ray, no unpickling.

Sources, all plain text: the resolved `sweep.yaml`, Tune's `experiment_state-*.json`
(trial status), each trial's `result.json` (one line per epoch), `trial.json` (seed) and
`error.txt`. Partial files from a crash are read up to the last whole line.
"""

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from tuning.errors import UserError

STATUS = {"TERMINATED": "completed", "ERROR": "errored", "RUNNING": "running", "PENDING": "pending",
          "PAUSED": "pending"}


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
    checkpoint: str | None = None
    error: str | None = None
    seed: int | None = None
    rank: int = 0


@dataclass
class Report:
    """Trials of one experiment in rank order."""

    experiment: str
    metric: str
    mode: str
    scope: str
    trials: list[TrialRow]

    def to_json(self, top: int | None = None) -> str:
        """DESIGN.md's report JSON."""
        trials = [{"rank": t.rank, **{k: v for k, v in asdict(t).items() if k != "rank"}}
                  for t in self.trials[:top]]
        data = {"experiment": self.experiment, "metric": self.metric, "mode": self.mode, "scope": self.scope,
                "trials": trials}
        return json.dumps(data, indent=2, allow_nan=False, default=str)


def read_results(path: Path) -> list[dict]:
    """Rows of a result.json; a truncated or corrupt line is skipped with a warning."""
    rows = []
    if not path.is_file():
        return rows
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{number}: skipped an unreadable line (interrupted write?)")
    return rows


def _trial_states(exp_dir: Path) -> list[dict]:
    """Trial id, status and directory from the newest experiment state file."""
    states = sorted(exp_dir.glob("experiment_state-*.json"))
    if not states:
        return []
    try:
        data = json.loads(states[-1].read_text())
    except json.JSONDecodeError:
        warnings.warn(f"{states[-1]}: unreadable experiment state; statuses are inferred from results")
        return []
    trials = []
    for state_json, _runtime in data.get("trial_data", []):
        state = json.loads(state_json)
        # Only plain fields are read; pickled ones (storage, resources) are left alone.
        trials.append({key: state.get(key) for key in ("trial_id", "status", "relative_logdir")})
    return trials


def _trial_dirs(exp_dir: Path) -> dict[str, Path]:
    """Trial id -> directory, for every directory holding Tune's params.json."""
    found = {}
    for params in exp_dir.glob("*/params.json"):
        rows = read_results(params.parent / "result.json")
        trial_id = rows[0]["trial_id"] if rows else params.parent.name
        found[trial_id] = params.parent
    return found


def _best_row(rows: list[dict], metric: str, mode: str, scope: str) -> dict | None:
    scored = [r for r in rows if _finite(r.get(metric))]
    if not scored:
        return None
    if scope == "last":
        return scored[-1]
    return (min if mode == "min" else max)(scored, key=lambda r: r[metric])


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checkpoint(trial_dir: Path, rows: list[dict], metric: str, mode: str) -> str | None:
    """The kept checkpoint with the best metric."""
    scores = {r.get("checkpoint_dir_name"): r.get(metric) for r in rows if r.get("checkpoint_dir_name")}
    kept = [d for d in trial_dir.glob("checkpoint_*") if d.is_dir()]
    if not kept:
        return None
    sign = 1 if mode == "min" else -1
    return str(min(kept, key=lambda d: (not _finite(scores.get(d.name)), sign * (scores.get(d.name) or 0), d.name)))


def _error(trial_dir: Path) -> str | None:
    path = trial_dir / "error.txt"
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def _trial_row(trial_id, status, trial_dir, sweep, scope) -> TrialRow:
    search = sweep["search"]
    metric, mode = search["metric"], search["mode"]
    rows = read_results(trial_dir / "result.json") if trial_dir else []
    info = json.loads((trial_dir / "trial.json").read_text()) if trial_dir and (trial_dir / "trial.json").is_file() else {}
    last = rows[-1] if rows else {}
    params = {k: v for k, v in (last.get("config") or info.get("params") or {}).items() if k in search["space"]}
    iterations = last.get("training_iteration", 0)
    budget = params.get("trainer.max_epochs") or search["scheduler"].get("max_t") or sweep["trainer"].get("max_epochs")
    if status == "completed" and budget and iterations < budget:
        status = "stopped_early"
    best = _best_row(rows, metric, mode, scope)
    return TrialRow(
        trial_id=trial_id, status=status, metric=best[metric] if best else None,
        epoch=best.get("training_iteration") if best else None, config=params, iterations=iterations,
        time_s=round(last.get("time_total_s", 0.0), 2), seed=info.get("seed"),
        checkpoint=_checkpoint(trial_dir, rows, metric, mode) if trial_dir else None,
        error=_error(trial_dir) if trial_dir and status == "errored" else None)


def rank(trials: list[TrialRow], mode: str) -> list[TrialRow]:
    """Sort best first; trials without a finite metric last; ties broken by trial id."""
    sign = 1 if mode == "min" else -1
    ordered = sorted(trials, key=lambda t: (not _finite(t.metric), sign * t.metric if _finite(t.metric) else 0,
                                            t.trial_id))
    for position, trial in enumerate(ordered, 1):
        trial.rank = position
    return ordered


def load_report(experiment: str, scope: str = "best") -> Report:
    """Read and rank an experiment directory (finished, interrupted or still running)."""
    exp_dir = Path(experiment).expanduser()
    sweep_file = exp_dir / "sweep.yaml"
    if not sweep_file.is_file():
        problem = "does not exist" if not exp_dir.exists() else "has no sweep.yaml (not a tuning experiment)"
        raise UserError(f"experiment {exp_dir}: {problem}")
    if scope not in ("best", "last"):
        raise UserError(f"--scope: must be best or last, got '{scope}'")
    sweep = yaml.safe_load(sweep_file.read_text())
    dirs = _trial_dirs(exp_dir)
    states = _trial_states(exp_dir) or [{"trial_id": t, "status": "TERMINATED"} for t in sorted(dirs)]
    trials = []
    for state in states:
        trial_dir = dirs.get(state["trial_id"])
        if trial_dir is None and state.get("relative_logdir"):
            candidate = exp_dir / state["relative_logdir"]
            trial_dir = candidate if candidate.is_dir() else None
        trials.append(_trial_row(state["trial_id"], STATUS.get(state["status"], state["status"].lower()),
                                 trial_dir, sweep, scope))
    search = sweep["search"]
    return Report(str(exp_dir.resolve()), search["metric"], search["mode"], scope, rank(trials, search["mode"]))

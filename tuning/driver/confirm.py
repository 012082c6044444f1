"""`tuning confirm`: re-run a sweep's top configs with new seeds and rank them by their mean.

A sweep's winner is often the luckiest seed. Confirmation runs each of the top K configs S times
at full budget (no early stopping) as a new experiment linked to the first (`confirm.json`), then
ranks configs by the mean metric with its std and a 95% confidence interval. A sweep of several
objectives reruns its Pareto front (at most `--top` configs of it when given); the configs are then
ranked by the Pareto rank of their mean values, then the first metric's mean.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from tuning.bounded import reason
from tuning.errors import UserError
from tuning.expdir import ExpDir

LINK_FILE = "confirm.json"
TOP = 3  # configs rerun when --top is not given (a sweep of several objectives reruns its Pareto front)


@dataclass
class Confirmed:
    """One config: where it ranked in the sweep and what its reruns gave."""

    config: dict
    sweep_rank: int
    sweep_metric: float
    values: list[float] = field(default_factory=list)
    objective_values: list[list[float]] = field(default_factory=list)  # several objectives: each rerun's values
    pareto_rank: int | None = None  # several objectives: the Pareto rank of the mean values among the configs

    @property
    def means(self) -> list[float] | None:
        """Several objectives: the mean of each objective over the reruns."""
        runs = self.objective_values
        return [sum(column) / len(runs) for column in zip(*runs)] if runs else None

    @property
    def mean(self) -> float | None:
        return stats(self.values)[0]

    @property
    def std(self) -> float | None:
        return stats(self.values)[1]

    @property
    def ci95(self) -> float | None:
        """Half-width of the 95% confidence interval of the mean (Student's t)."""
        return stats(self.values)[2]


def stats(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """Mean, sample std and 95% CI half-width; std and CI need at least two values."""
    n = len(values)
    if n == 0:
        return None, None, None
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    from scipy.stats import t

    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, std, t.ppf(0.975, n - 1) * std / math.sqrt(n)


def _as_choices(space: dict) -> dict:
    """A sweep.yaml space with its grid entries as choices, inside a conditional choice's branches too.

    An entry of another shape is kept as written: parse_sweep then names it (the space comes from the
    experiment, which may have been edited)."""
    out = {}
    for key, spec in space.items():
        if isinstance(spec, dict) and "grid" in spec:
            spec = {"choice": spec["grid"]}
        elif isinstance(spec, dict) and isinstance(spec.get("choice"), dict):
            spec = {
                "choice": {
                    value: _as_choices(sub or {}) if isinstance(sub or {}, dict) else sub
                    for value, sub in spec["choice"].items()
                }
            }
        out[key] = spec
    return out


def confirm_sweep(experiment: str, top: int | None, seeds: int) -> tuple[dict, list[dict]]:
    """The confirmation sweep (raw sweep data) and the top configs it reruns, from the sweep's report: the
    best `top` (default 3), or with several objectives the Pareto front (at most `top` of it when given)."""
    from tuning.report import load_report

    if (top is not None and top < 1) or seeds < 1:
        raise UserError("--top and --seeds must be at least 1")
    report = load_report(experiment)
    front = [t for t in report.trials if t.pareto_rank == 1] if report.objectives else None
    ranked = front[:top] if front is not None else [t for t in report.trials if t.metric is not None][: top or TOP]
    if not ranked:
        raise UserError(f"experiment {experiment}: no trial has a {report.metric} yet; nothing to confirm")
    sweep = ExpDir(experiment).sweep()
    search = sweep["search"]
    # Random search over the same space (grid entries as choices), fed exactly the configs to rerun.
    search["space"] = _as_choices(search["space"])
    search["searcher"] = {"name": "random", "points_to_evaluate": [t.config for t in ranked for _ in range(seeds)]}
    search["scheduler"] = {"name": "fifo"}
    search["num_samples"] = len(ranked) * seeds
    search["warm_start"] = []
    search["baseline"] = False  # it reruns the configs it picked, nothing else
    search["budget"] = search["stop"] = None  # all of them: the sweep's budget and stop rules were the search's
    # Seeds are run.seed + trial index: shifting run.seed past the sweep's trials gives new seeds.
    # (run and name as ExpDir.sweep checked them: either may be missing from a sweep written by hand)
    sweep["run"] = {**(sweep.get("run") or {}), "seed": (sweep.get("run") or {}).get("seed", 0) + len(report.trials)}
    sweep["name"] = f"{sweep.get('name') or Path(experiment).name}-confirm"
    picked = [{"sweep_rank": t.rank, "trial_id": t.trial_id, "metric": t.metric, "config": t.config} for t in ranked]
    return sweep, picked


def run_confirm(
    experiment: str,
    top: int | None,
    seeds: int,
    storage: str | None = None,
    name: str | None = None,
    address: str | None = None,
) -> Path:
    """Run the confirmation experiment next to the sweep (or in `storage`) and return its directory."""
    from tuning.driver.tuner import run_sweep
    from tuning.sweep.config import parse_sweep

    sweep, picked = confirm_sweep(experiment, top, seeds)
    cfg = parse_sweep(sweep, origin=f"confirmation of {experiment}")
    exp_dir = run_sweep(cfg, storage=storage or str(Path(experiment).resolve().parent), name=name, address=address)
    from tuning.search.pareto import is_multi

    if top is None:  # what was asked for: the front, or the single-objective default
        top = len(picked) if is_multi(sweep["search"]) else TOP
    link = {"source": str(Path(experiment).resolve()), "top": top, "seeds": seeds, "configs": picked}
    (exp_dir / LINK_FILE).write_text(json.dumps(link, indent=1))
    return exp_dir


def _link(confirm_dir: str) -> dict:
    """confirm.json of a confirmation experiment, read as an experiment's files are (tuning.expdir), checked."""
    exp = ExpDir(confirm_dir, shallow=True)
    if not exp.listed(LINK_FILE):
        raise UserError(f"{confirm_dir}: no {LINK_FILE}; not a confirmation experiment")
    try:
        link = exp.json(LINK_FILE)
        configs = link["configs"]
        if not isinstance(configs, list) or not all(
            isinstance(p["config"], dict)
            and isinstance(p["sweep_rank"], int)
            and (p["metric"] is None or isinstance(p["metric"], (int, float)))
            for p in configs
        ):
            raise ValueError("configs is not a list of {config, sweep_rank, metric}")
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{exp.path(LINK_FILE)}: not a link tuning confirm wrote ({reason(exc)})") from None
    return link


def confirmed(confirm_dir: str) -> tuple[list[Confirmed], str, str]:
    """The configs of a confirmation experiment ranked by mean (best first), with its metric and mode."""
    from tuning.report import load_report

    link = _link(confirm_dir)
    report = load_report(confirm_dir)
    results = [Confirmed(p["config"], p["sweep_rank"], p["metric"]) for p in link["configs"]]
    for trial in report.trials:
        for result in results:
            if trial.config == result.config and trial.metric is not None:
                result.values.append(trial.metric)
                if trial.values:
                    result.objective_values.append(trial.values)
    if report.objectives:
        from tuning.search.pareto import pareto_ranks

        for result, pareto in zip(results, pareto_ranks([r.means for r in results], [m for _, m in report.objectives])):
            result.pareto_rank = pareto
    sign, last = 1 if report.mode == "min" else -1, len(results) + 1  # configs without values: after the fronts
    results.sort(
        key=lambda r: (
            last if report.objectives and r.pareto_rank is None else r.pareto_rank or 0,
            r.mean is None,
            sign * (r.mean or 0),
            r.sweep_rank,
        )
    )
    return results, report.metric, report.mode


def render_confirmed(results: list[Confirmed], metric: str, mode: str) -> str:
    """A table of configs by mean, and a plain statement on whether the sweep's winner held up."""
    fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
    lines = [
        f"confirmed ranking by mean {metric} ({mode}), 95% CI from Student's t",
        "",
        f"{'rank':<5} {'sweep rank':<11} {'sweep ' + metric:<14} {'mean':<10} {'± 95% CI':<10} {'std':<10} "
        "runs  params",
    ]
    for i, r in enumerate(results, 1):
        params = ", ".join(f"{k.split('.')[-1]}={fmt(v) if isinstance(v, float) else v}" for k, v in r.config.items())
        if r.means:  # several objectives: the Pareto rank and every objective's mean come first
            params = f"front {r.pareto_rank}, means {', '.join(fmt(m) for m in r.means)}; {params}"
        lines.append(
            f"{i:<5} {r.sweep_rank:<11} {fmt(r.sweep_metric):<14} {fmt(r.mean):<10} {fmt(r.ci95):<10} "
            f"{fmt(r.std):<10} {len(r.values):<5} {params}"
        )
    winner = results[0]
    lines.append("")
    if any(r.pareto_rank is not None for r in results):  # several objectives: the sweep's front, rerun
        kept = [str(r.sweep_rank) for r in results if r.pareto_rank == 1]
        dropped = [str(r.sweep_rank) for r in results if r.pareto_rank != 1]
        lines.append(
            f"Pareto front of the mean values: sweep ranks {', '.join(kept)}"
            + (f"; no longer on it: sweep ranks {', '.join(dropped)}." if dropped else " (all of them).")
        )
        return "\n".join(lines)
    if winner.sweep_rank == 1:
        lines.append(f"The sweep's winner is also the confirmed winner (mean {metric} {fmt(winner.mean)}).")
    else:
        sweep_best = next(r for r in results if r.sweep_rank == 1)
        lines.append(
            f"The sweep's winner is NOT the confirmed winner: sweep rank {winner.sweep_rank} has the best "
            f"mean {metric} {fmt(winner.mean)}, the sweep's winner {fmt(sweep_best.mean)}."
        )
    return "\n".join(lines)

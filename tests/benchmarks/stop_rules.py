"""Benchmark: what the stop rules and the time budget (issue 35) save and cost, against the full-budget sweep.

On the noisy synthetic objectives (Hartmann-6 and Branin with Gaussian noise on every report, at a moderate and a
high level: REGIMES), for each seed: the
full sweep (`--trials` trials of TPE, no scheduler, one trial at a time, so every run of a seed proposes the same
configs in the same order and a stopped sweep is a prefix of the full one), the same sweep with
`search.stop.plateau` and with `search.stop.regret: auto`. Per run: the compute spent (epochs, each the same cost on
a synthetic objective; trial-seconds too), and the final best: the true (noise-free) value of the config the report
ranks first. Then a sweep with a time budget (`--time-budget` seconds, two trials at once): how far past the budget
it ended, against one epoch's time.

Goals, from the full runs measured in the same run (median of seeds):
- the regret stop saves at least 40% of the full run's compute, at a final best within one seed's spread of the full
  run's (the standard deviation over seeds of the full runs' final bests);
- the time budget ends within one epoch's time of the budget.

With --quickstart the built-in quickstart (digits MLP) is measured the same way, its scheduler replaced by fifo
(the regret rule reads COMPLETE trials, which ASHA leaves few of) and its final best the ranked val_loss (there is
no noise-free value): `--quickstart-trials` per run (60: the regret rule judges from 40 finished trials), and a
time budget of `--quickstart-budget` seconds.

    python tests/benchmarks/stop_rules.py [--seeds 5] [--trials 100] [--quickstart] [--time-only]
"""

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tuning.driver.tuner import run_sweep, start_ray
from tuning.report import load_report
from tuning.search.synthetic import OBJECTIVES
from tuning.sweep.budget import BudgetSpec
from tuning.sweep.config import load_sweep, parse_sweep

# The noise on every report: moderate (about a tenth of each function's range over its better half) and high (about
# a third: the regime the regret rule is for, where the noise hides what more search could still find).
REGIMES = {"moderate": {"hartmann6": 0.3, "branin": 2.0}, "high": {"hartmann6": 1.0, "branin": 10.0}}
PLATEAU = {"trials": 20, "min_delta": 0.01}
RULES = {"full": None, "plateau": {"plateau": PLATEAU}, "regret": {"regret": "auto"}}


def synthetic(name: str, seed: int, trials: int, stop: dict | None, noise: float, iterations: int = 9) -> dict:
    """A synthetic sweep: TPE seeded `seed` (the noise too, through run.seed), fifo, one trial at a time."""
    bounds = OBJECTIVES[name].bounds
    search = {
        "metric": "value",
        "mode": "min",
        "num_samples": trials,
        "space": {f"objective.x{i}": {"uniform": list(b)} for i, b in enumerate(bounds)},
        "searcher": {"name": "optuna", "sampler": "tpe", "seed": seed},
        "scheduler": {"name": "fifo"},
        **({"stop": stop} if stop else {}),
    }
    return {
        "name": f"{name}-{seed}",
        "objective": {"name": name, "iterations": iterations, "noise": noise},
        "search": search,
        "resources": {"cpu": 1, "max_concurrent": 1},
        "run": {"seed": seed},
    }


def measure(cfg, storage: Path, name: str, truth=None) -> dict:
    """Run the sweep; what it spent and the final best (the true value of the top config when `truth` is given)."""
    exp = run_sweep(cfg, storage=str(storage), name=name)
    report = load_report(str(exp))
    runs = json.loads((exp / "environment.json").read_text())["runs"]
    best = report.trials[0]
    return {
        "trials": len(report.trials),
        "epochs": sum(t.iterations for t in report.trials),
        "trial_s": report.compute()["trial_s"],
        "best": truth(best.config) if truth else best.metric,
        "ranked_best": best.metric,
        "ended": (runs[-1].get("ended_by") or {}).get("by"),
        "finished_at": (runs[-1].get("ended_by") or {}).get("detail", {}).get("finished"),
        "exp": exp,
    }


def true_value(name: str):
    function = OBJECTIVES[name].function
    return lambda config: function([config[f"objective.x{i}"] for i in range(len(OBJECTIVES[name].bounds))])


def summarize(runs: dict) -> dict:
    """Per rule: median compute saved against the full run and median final-best gap, with the goal for regret."""
    full = runs["full"]
    spread = statistics.stdev(r["best"] for r in full) if len(full) > 1 else 0.0
    out = {"full": {"median_epochs": statistics.median(r["epochs"] for r in full), "seed_spread": spread}}
    for rule in ("plateau", "regret"):
        saved = [1 - r["epochs"] / f["epochs"] for r, f in zip(runs[rule], full)]
        gap = [r["best"] - f["best"] for r, f in zip(runs[rule], full)]  # minimized: > 0 is worse
        out[rule] = {
            "saved": [round(s, 3) for s in saved],
            "gap": [round(g, 4) for g in gap],
            "stopped": [r["ended"] == rule for r in runs[rule]],
            "median_saved": round(statistics.median(saved), 3),
            "median_gap": round(statistics.median(gap), 4),
        }
    regret = out["regret"]
    out["goal_regret"] = {
        "saves_40pct": regret["median_saved"] >= 0.4,
        "within_one_seed_spread": regret["median_gap"] <= spread,
        "met": regret["median_saved"] >= 0.4 and regret["median_gap"] <= spread,
    }
    return out


def time_budget(cfg, storage: Path, name: str, budget: float, repeats: int = 3) -> dict:
    """Sweeps with search.budget.time, `repeats` of them (a busy machine moves one by a step or two): how far past
    the budget each ended (before it: negative), against the median time of its epochs; the goal on the median
    run."""
    cfg = cfg.model_copy(update={"search": cfg.search.model_copy(update={"budget": BudgetSpec(time=budget)})})
    runs = []
    for repeat in range(repeats):
        started = time.monotonic()
        exp = run_sweep(cfg, storage=str(storage), name=f"{name}-{repeat}")
        command_s = time.monotonic() - started
        ending = json.loads((exp / "environment.json").read_text())["runs"][-1]["ended_by"]
        report = load_report(str(exp))
        rows = {t.trial_id: [r for r in report.results if r["trial_id"] == t.trial_id] for t in report.trials}
        epochs = [b["time_total_s"] - a["time_total_s"] for r in rows.values() for a, b in zip(r, r[1:])]
        runs.append(
            {
                "ended_by": ending["by"],
                "past_budget_s": round(ending["spent"]["time_s"] - budget, 3),
                "median_epoch_s": round(statistics.median(epochs), 4) if epochs else None,
                "command_s": round(command_s, 2),
                "trials": len(report.trials),
            }
        )
    middle = sorted(runs, key=lambda r: r["past_budget_s"])[len(runs) // 2]
    epoch = middle["median_epoch_s"]
    return {
        "budget_s": budget,
        "runs": runs,
        "median_past_budget_s": middle["past_budget_s"],
        "within_one_epoch": epoch is not None and abs(middle["past_budget_s"]) <= epoch,  # either side
    }


def run_synthetic(args, storage: Path) -> dict:
    out = {}
    for regime in args.regimes:
        for name in args.objectives:
            noise, runs = REGIMES[regime][name], {rule: [] for rule in RULES}
            for seed in range(args.seeds):
                for rule, stop in RULES.items():
                    cfg = parse_sweep(synthetic(name, seed, args.trials, stop, noise))
                    run = measure(cfg, storage, f"{regime}-{name}-{seed}-{rule}", true_value(name))
                    runs[rule].append(run)
                    print(f"{regime} {name} seed {seed} {rule}: {_short(run)}", file=sys.stderr, flush=True)
            out.setdefault(regime, {})[name] = {**summarize(runs), "noise": noise, "trials": args.trials}
    out["time_budget"] = time_budget(_timed(), storage, "hartmann6-time", args.time_budget)
    return out


def _timed():
    """The time budget's synthetic sweep: Hartmann-6 at moderate noise, two trials at once, more than it can run."""
    cfg = parse_sweep(synthetic("hartmann6", 0, 100000, None, REGIMES["moderate"]["hartmann6"]))
    return cfg.model_copy(update={"resources": cfg.resources.model_copy(update={"max_concurrent": 2})})


def _short(run: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in run.items() if k != "exp")


def run_quickstart(args, storage: Path) -> dict:
    runs = {rule: [] for rule in RULES}
    for seed in range(args.seeds):
        for rule, stop in RULES.items():
            overrides = [
                f"search.num_samples={args.quickstart_trials}",
                "search.scheduler={name: fifo}",
                f"search.searcher.seed={seed}",
                f"run.seed={seed}",
                "resources.max_concurrent=1",
                "search.baseline=false",
            ] + ([f"search.stop={json.dumps(stop)}"] if stop else [])
            runs[rule].append(measure(load_sweep("quickstart", overrides), storage, f"qs-{seed}-{rule}"))
            print(f"quickstart seed {seed} {rule}: {_short(runs[rule][-1])}", file=sys.stderr, flush=True)
    cfg = load_sweep("quickstart", ["search.num_samples=1000", "search.baseline=false"])
    return {
        **summarize(runs),
        "trials": args.quickstart_trials,
        "time_budget": time_budget(cfg, storage, "qs-time", args.quickstart_budget),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--objectives", nargs="+", default=["hartmann6", "branin"])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES))
    parser.add_argument("--time-budget", type=float, default=5.0)
    parser.add_argument("--quickstart", action="store_true")
    parser.add_argument("--quickstart-trials", type=int, default=60)
    parser.add_argument("--quickstart-budget", type=float, default=60.0)
    parser.add_argument("--time-only", action="store_true", help="only the time budgets")
    args = parser.parse_args()
    start_ray()
    started = time.monotonic()
    # the sweeps' own lines go to stderr: stdout is the one JSON line
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        if args.time_only:  # the time budgets alone (they are what a busy machine skews)
            result = {"synthetic": {"time_budget": time_budget(_timed(), Path(tmp), "time", args.time_budget)}}
            if args.quickstart:
                qs = load_sweep("quickstart", ["search.num_samples=1000", "search.baseline=false"])
                result["quickstart"] = {"time_budget": time_budget(qs, Path(tmp), "qs-time", args.quickstart_budget)}
        else:
            result = {"synthetic": run_synthetic(args, Path(tmp)), "seeds": args.seeds}
            if args.quickstart:
                result["quickstart"] = run_quickstart(args, Path(tmp))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()

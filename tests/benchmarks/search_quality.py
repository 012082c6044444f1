"""Benchmark: how fast each search strategy finds good configs, at an equal budget of epochs.

On the digits MLP with a 5-parameter space, over several seeds: FIFO + random search at full
budget (the baseline), ASHA + random, ASHA + TPE. For each run, best-so-far val_loss against
cumulative epochs (every reported epoch counts, in the order they were reported), cut at the
baseline's total budget. Prints one JSON line: per strategy the median area under the best-so-far
curve (lower is better) and the median epochs needed to reach the baseline's final best, and
whether ASHA + TPE gets there with at most a third of the baseline's epochs in the median seed.

    python tests/benchmarks/search_quality.py [--seeds 5] [--trials 8] [--epochs 9]

With --multi-objective it prints the multi-objective line instead: on ZDT1 (the synthetic objective zdt1,
two objectives, both minimized), the hypervolume of the Pareto front each sampler reaches after the same
number of trials (NSGA-II, TPE, random; all Optuna samplers through the same sweep), per seed and the
median, against the reference point ZDT1_REFERENCE.

    python tests/benchmarks/search_quality.py --multi-objective [--seeds 5] [--mo-trials 100]
"""

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
from pathlib import Path

from tuning.config import parse_sweep
from tuning.run.driver import run_sweep, start_ray
from tuning.report.load import read_results

SPACE = {
    "model.init_args.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "model.init_args.hidden_dim": {"choice": [16, 32, 64, 128, 256]},
    "model.init_args.num_layers": {"randint": [1, 4]},
    "model.init_args.dropout": {"uniform": [0.0, 0.5]},
    "model.init_args.weight_decay": {"loguniform": [1.0e-6, 1.0e-1]},
}
STRATEGIES = {  # name -> (searcher, scheduler, trials as a multiple of the baseline's)
    "fifo_random": ({"name": "random"}, {"name": "fifo"}, 1),
    "asha_random": ({"name": "random"}, {"name": "asha", "grace_period": 1, "reduction_factor": 3}, 4),
    "asha_tpe": ({"name": "optuna", "sampler": "tpe"}, {"name": "asha", "grace_period": 1, "reduction_factor": 3}, 4),
}


def curve(exp_dir: Path, budget: int) -> list[float]:
    """Best-so-far val_loss after each of the first `budget` epochs reported in the experiment."""
    rows = [r for p in exp_dir.glob("trial_*/result.json") for r in read_results(p) if "val_loss" in r]
    rows.sort(key=lambda r: (r["timestamp"], r.get("time_total_s", 0)))
    best, out = float("inf"), []
    for row in rows[:budget]:
        best = min(best, row["val_loss"])
        out.append(best)
    # A run that spent less than the budget keeps its final best for the epochs it did not use.
    return out + [best] * (budget - len(out))


def run(strategy: str, seed: int, trials: int, epochs: int, storage: str) -> list[float]:
    searcher, scheduler, multiple = STRATEGIES[strategy]
    sweep = {"name": f"{strategy}-{seed}", "model": {"class_path": "mlp"},
             "data": {"class_path": "digits", "init_args": {"batch_size": 64}},
             "trainer": {"max_epochs": epochs, "accelerator": "cpu"},
             "search": {"metric": "val_loss", "mode": "min", "num_samples": trials * multiple, "space": SPACE,
                        "searcher": searcher, "scheduler": scheduler},
             "resources": {"cpu": 1, "max_concurrent": 2}, "run": {"seed": seed, "keep_checkpoints": 1}}
    return curve(run_sweep(parse_sweep(sweep), storage=storage), trials * epochs)


def epochs_to_reach(points: list[float], target: float) -> int | None:
    return next((i + 1 for i, v in enumerate(points) if v <= target), None)


# ZDT1's objectives are at most 1 (f1) and 10 (f2) on its domain: this point lies beyond every trial, so
# each one's dominated box counts; the true front (f2 = 1 - sqrt(f1)) dominates 1.1 * 11 - 1/3 of area.
ZDT1_REFERENCE = (1.1, 11.0)
ZDT1_MAX_HYPERVOLUME = 1.1 * 11.0 - 1 / 3
MO_SAMPLERS = ("nsga2", "tpe", "random")


def multi_objective(seeds: int, trials: int, storage: str) -> dict:
    """The hypervolume of each sampler's Pareto front after `trials` trials of ZDT1, for each seed."""
    from tuning.pareto import hypervolume_2d
    from tuning.report.load import load_report

    volumes = {name: [] for name in MO_SAMPLERS}
    for seed in range(seeds):
        for name in MO_SAMPLERS:
            sweep = {"name": f"zdt1-{name}-{seed}", "objective": {"name": "zdt1", "iterations": 1},
                     "search": {"metric": ["f1", "f2"], "mode": ["min", "min"], "num_samples": trials,
                                "space": {f"objective.x{i}": {"uniform": [0.0, 1.0]} for i in range(4)},
                                "searcher": {"name": "optuna", "sampler": name, "seed": seed},
                                "scheduler": {"name": "fifo"}},
                     "resources": {"cpu": 1, "max_concurrent": 2}, "run": {"seed": seed}}
            report = load_report(str(run_sweep(parse_sweep(sweep), storage=storage)))
            volumes[name].append(hypervolume_2d([t.values for t in report.trials], ["min", "min"], ZDT1_REFERENCE))
    result = {"multi_objective": "zdt1 (4 inputs; f1, f2 minimized), fifo, hypervolume of the Pareto front",
              "trials": trials, "seeds": seeds, "reference_point": list(ZDT1_REFERENCE),
              "max_hypervolume": round(ZDT1_MAX_HYPERVOLUME, 4)}
    for name, runs in volumes.items():
        result[name] = {"median_hypervolume": round(statistics.median(runs), 4),
                        "hypervolumes": [round(v, 4) for v in runs]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8, help="baseline trials (each runs --epochs epochs)")
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--multi-objective", action="store_true", help="print the multi-objective line instead")
    parser.add_argument("--mo-trials", type=int, default=100, help="multi-objective: trials per sampler and seed")
    args = parser.parse_args()
    start_ray()
    if args.multi_objective:
        with tempfile.TemporaryDirectory() as storage, contextlib.redirect_stdout(sys.stderr):
            result = multi_objective(args.seeds, args.mo_trials, storage)
        print(json.dumps(result))
        return
    curves = {name: [] for name in STRATEGIES}
    # Per-trial progress goes to stderr: stdout carries the one JSON line.
    with tempfile.TemporaryDirectory() as storage, contextlib.redirect_stdout(sys.stderr):
        for seed in range(args.seeds):
            for name in STRATEGIES:
                curves[name].append(run(name, seed, args.trials, args.epochs, storage))
    budget = args.trials * args.epochs
    result = {"budget_epochs": budget, "seeds": args.seeds}
    for name, runs in curves.items():
        reach = [epochs_to_reach(c, base[-1]) for c, base in zip(runs, curves["fifo_random"])]
        result[name] = {"median_auc": statistics.median(sum(c) / len(c) for c in runs),
                        "median_final_best": statistics.median(c[-1] for c in runs),
                        "median_epochs_to_baseline_best": statistics.median(r if r else budget * 10 for r in reach),
                        "reached_in_seeds": sum(r is not None for r in reach)}
    result["goal_asha_tpe_within_third"] = result["asha_tpe"]["median_epochs_to_baseline_best"] <= budget / 3
    print(json.dumps(result))


if __name__ == "__main__":
    main()

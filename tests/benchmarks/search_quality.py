"""Benchmark: how fast each search strategy finds good configs, at an equal budget of epochs.

On the digits MLP with a 5-parameter space, over several seeds: FIFO + random search at full
budget (the baseline), ASHA + random, ASHA + TPE. For each run, best-so-far val_loss against
cumulative epochs (every reported epoch counts, in the order they were reported), cut at the
baseline's total budget. Prints one JSON line: per strategy the median area under the best-so-far
curve (lower is better), the median final best and the median epochs needed to reach the baseline's
final best, and the goals, each computed from the baseline measured in the same run:

- ASHA + TPE reaches the baseline's final best within a quarter of the budget (median seed);
- issue 17 item 1 side by side (`item1`): ASHA + TPE as it was before the study mirrored the report
  (`asha_tpe_before`: Ray's plain OptunaSearch, which tells each trial's last reported epoch and
  stores ASHA-stopped trials COMPLETE; rebuilt here, the product no longer has that mode) against
  ASHA + TPE now, with the same seeds;
- Optuna alone (`optuna_alone`): the same model, data, space and epoch budget in one process, no
  Ray: TPE and Optuna's SuccessiveHalvingPruner (min_resource 1, reduction factor 3, as ASHA's
  grace period and reduction factor), trials one after another, each told its best epoch (the
  sweep's default scope). ASHA + TPE should be no worse than it by more than one seed's spread (the
  standard deviation over seeds of Optuna alone's result).

    python tests/benchmarks/search_quality.py [--seeds 5] [--trials 8] [--epochs 9] [--skip asha_random]

With --multi-objective it prints the multi-objective line instead: on ZDT1 (the synthetic objective zdt1,
two objectives, both minimized), the hypervolume of the Pareto front each sampler reaches after the same
number of trials (NSGA-II, TPE, random; all Optuna samplers through the same sweep), per seed and the
median, against the reference point ZDT1_REFERENCE.

    python tests/benchmarks/search_quality.py --multi-objective [--seeds 5] [--mo-trials 100]
"""

import argparse
import contextlib
import dataclasses
import json
import statistics
import sys
import tempfile
from pathlib import Path

from tuning.driver.tuner import run_sweep, start_ray
from tuning.report.load import read_results
from tuning.search import searchers
from tuning.sweep.config import parse_sweep

SPACE = {
    "model.init_args.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "model.init_args.hidden_dim": {"choice": [16, 32, 64, 128, 256]},
    "model.init_args.num_layers": {"randint": [1, 4]},
    "model.init_args.dropout": {"uniform": [0.0, 0.5]},
    "model.init_args.weight_decay": {"loguniform": [1.0e-6, 1.0e-1]},
}
ASHA = {"name": "asha", "grace_period": 1, "reduction_factor": 3}
STRATEGIES = {  # name -> (searcher, scheduler, trials as a multiple of the baseline's)
    "fifo_random": ({"name": "random"}, {"name": "fifo"}, 1),
    "asha_random": ({"name": "random"}, ASHA, 4),
    "asha_tpe": ({"name": "optuna", "sampler": "tpe"}, ASHA, 4),
    "asha_tpe_before": ({"name": "optuna", "sampler": "tpe"}, ASHA, 4),  # with before_item1's searcher
    "optuna_alone": None,  # in this process, no Ray (optuna_alone)
}


def curve_of(rows: list[dict], budget: int) -> list[float]:
    """Best-so-far val_loss after each of the first `budget` epochs of `rows` (in the order reported)."""
    best, out = float("inf"), []
    for row in rows[:budget]:
        best = min(best, row["val_loss"])
        out.append(best)
    # A run that spent less than the budget keeps its final best for the epochs it did not use.
    return out + [best] * (budget - len(out))


def curve(exp_dir: Path, budget: int) -> list[float]:
    """Best-so-far val_loss after each of the first `budget` epochs reported in the experiment."""
    rows = [r for p in exp_dir.glob("trial_*/result.json") for r in read_results(p) if "val_loss" in r]
    rows.sort(key=lambda r: (r["timestamp"], r.get("time_total_s", 0)))
    return curve_of(rows, budget)


def before_item1(search, seed: int, **_):
    """The optuna searcher as it was before issue 17 item 1: Ray's OptunaSearch tells the study each trial's
    last reported value as COMPLETE, ASHA-stopped or not (same sampler, same seed)."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearch(
        metric=search.metric,
        mode=search.mode,
        sampler=searchers.SAMPLERS[search.searcher.sampler].factory(optuna, seed),
    )


@contextlib.contextmanager
def searcher_as_before():
    """`searcher: optuna` built by before_item1 for the sweeps started inside (the registry is a plain dict)."""
    saved = searchers.SEARCHERS["optuna"]
    searchers.SEARCHERS["optuna"] = dataclasses.replace(saved, factory=before_item1)
    try:
        yield
    finally:
        searchers.SEARCHERS["optuna"] = saved


def run(strategy: str, seed: int, trials: int, epochs: int, storage: str) -> list[float]:
    if strategy == "optuna_alone":
        return optuna_alone(seed, epochs, trials * epochs)
    searcher, scheduler, multiple = STRATEGIES[strategy]
    sweep = {
        "name": f"{strategy}-{seed}",
        "model": {"class_path": "mlp"},
        "data": {"class_path": "digits", "init_args": {"batch_size": 64}},
        "trainer": {"max_epochs": epochs, "accelerator": "cpu"},
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "num_samples": trials * multiple,
            "space": SPACE,
            "searcher": searcher,
            "scheduler": scheduler,
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": seed, "keep_checkpoints": 1},
    }
    with searcher_as_before() if strategy == "asha_tpe_before" else contextlib.nullcontext():
        return curve(run_sweep(parse_sweep(sweep), storage=storage), trials * epochs)


def optuna_alone(seed: int, epochs: int, budget: int) -> list[float]:
    """The same search by Optuna alone, in this process: TPE + SuccessiveHalvingPruner, trials one after
    another until `budget` epochs are spent; each trial told its best epoch, or PRUNED."""
    import lightning as L
    import optuna

    from tuning.data.digits import DigitsDataModule
    from tuning.models.mlp import MLPClassifier
    from tuning.search.conditional import define_by_run
    from tuning.sweep.space import parse_space

    space, _ = parse_space(SPACE)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=searchers.SAMPLERS["tpe"].factory(optuna, seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    )
    data, rows = DigitsDataModule(batch_size=64), []
    while len(rows) < budget:
        trial = study.ask()
        define_by_run(space, trial)  # the sweep's own distributions: the same problem
        L.seed_everything(seed * 1000 + trial.number, verbose=False)
        model = MLPClassifier(**{k.rsplit(".", 1)[-1]: v for k, v in trial.params.items()})
        report = _report_callback()(trial, rows, budget)
        L.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            callbacks=[report],
        ).fit(model, datamodule=data)
        if report.pruned or not report.values:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, min(report.values))
    return curve_of(rows, budget)


def _report_callback():
    import lightning as L

    class Report(L.Callback):
        """Each epoch's val_loss to the Optuna trial and to the run's rows; stops when pruned or out of budget."""

        def __init__(self, trial, rows: list, budget: int):
            self.trial, self.rows, self.budget, self.pruned, self.values = trial, rows, budget, False, []

        def on_validation_epoch_end(self, trainer, pl_module):
            value = float(trainer.callback_metrics["val_loss"])
            self.trial.report(value, trainer.current_epoch + 1)
            self.rows.append({"val_loss": value})
            self.values.append(value)
            self.pruned = self.trial.should_prune()
            trainer.should_stop = trainer.should_stop or self.pruned or len(self.rows) >= self.budget

    return Report


def epochs_to_reach(points: list[float], target: float) -> int | None:
    return next((i + 1 for i, v in enumerate(points) if v <= target), None)


# ZDT1's objectives are at most 1 (f1) and 10 (f2) on its domain: this point lies beyond every trial, so
# each one's dominated box counts; the true front (f2 = 1 - sqrt(f1)) dominates 1.1 * 11 - 1/3 of area.
ZDT1_REFERENCE = (1.1, 11.0)
ZDT1_MAX_HYPERVOLUME = 1.1 * 11.0 - 1 / 3
MO_SAMPLERS = ("nsga2", "tpe", "random")


def multi_objective(seeds: int, trials: int, storage: str) -> dict:
    """The hypervolume of each sampler's Pareto front after `trials` trials of ZDT1, for each seed."""
    from tuning.report.load import load_report
    from tuning.search.pareto import hypervolume_2d

    volumes = {name: [] for name in MO_SAMPLERS}
    for seed in range(seeds):
        for name in MO_SAMPLERS:
            sweep = {
                "name": f"zdt1-{name}-{seed}",
                "objective": {"name": "zdt1", "iterations": 1},
                "search": {
                    "metric": ["f1", "f2"],
                    "mode": ["min", "min"],
                    "num_samples": trials,
                    "space": {f"objective.x{i}": {"uniform": [0.0, 1.0]} for i in range(4)},
                    "searcher": {"name": "optuna", "sampler": name, "seed": seed},
                    "scheduler": {"name": "fifo"},
                },
                "resources": {"cpu": 1, "max_concurrent": 2},
                "run": {"seed": seed},
            }
            report = load_report(str(run_sweep(parse_sweep(sweep), storage=storage)))
            volumes[name].append(hypervolume_2d([t.values for t in report.trials], ["min", "min"], ZDT1_REFERENCE))
    result = {
        "multi_objective": "zdt1 (4 inputs; f1, f2 minimized), fifo, hypervolume of the Pareto front",
        "trials": trials,
        "seeds": seeds,
        "reference_point": list(ZDT1_REFERENCE),
        "max_hypervolume": round(ZDT1_MAX_HYPERVOLUME, 4),
    }
    for name, runs in volumes.items():
        result[name] = {
            "median_hypervolume": round(statistics.median(runs), 4),
            "hypervolumes": [round(v, 4) for v in runs],
        }
    return result


def summary(runs: list[list[float]], baseline: list[list[float]], budget: int) -> dict:
    """Medians over seeds, each seed against the baseline's final best of the same seed."""
    reach = [epochs_to_reach(c, base[-1]) for c, base in zip(runs, baseline)]
    finals = [c[-1] for c in runs]
    return {
        "median_auc": round(statistics.median(sum(c) / len(c) for c in runs), 4),
        "median_final_best": round(statistics.median(finals), 4),
        "spread_final_best": round(statistics.stdev(finals), 4) if len(finals) > 1 else 0.0,
        "median_epochs_to_baseline_best": statistics.median(r if r else budget * 10 for r in reach),
        "epochs_to_baseline_best": reach,
        "reached_in_seeds": sum(r is not None for r in reach),
    }


def goals(result: dict, budget: int) -> dict:
    """The issue's goals, from this run's own numbers (a strategy left out gives None)."""
    tpe, alone = result.get("asha_tpe"), result.get("optuna_alone")
    out = {
        "goal_asha_tpe_within_quarter": tpe["median_epochs_to_baseline_best"] <= budget / 4 if tpe else None,
        "goal_asha_tpe_within_third": tpe["median_epochs_to_baseline_best"] <= budget / 3 if tpe else None,
    }
    # Lower val_loss is better: ASHA + TPE may trail Optuna alone by one seed's spread at most.
    out["goal_no_worse_than_optuna_alone"] = (
        tpe["median_final_best"] <= alone["median_final_best"] + alone["spread_final_best"] if tpe and alone else None
    )
    before = result.get("asha_tpe_before")
    if tpe and before:
        out["item1"] = {
            k: {"before": before[k], "after": tpe[k]}
            for k in ("median_epochs_to_baseline_best", "median_final_best", "reached_in_seeds")
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8, help="baseline trials (each runs --epochs epochs)")
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--multi-objective", action="store_true", help="print the multi-objective line instead")
    parser.add_argument("--mo-trials", type=int, default=100, help="multi-objective: trials per sampler and seed")
    parser.add_argument("--skip", default="", help="strategies to leave out, comma-separated (not fifo_random)")
    args = parser.parse_args()
    names = [n for n in STRATEGIES if n == "fifo_random" or n not in args.skip.split(",")]
    start_ray()
    if args.multi_objective:
        with tempfile.TemporaryDirectory() as storage, contextlib.redirect_stdout(sys.stderr):
            result = multi_objective(args.seeds, args.mo_trials, storage)
        print(json.dumps(result))
        return
    curves = {name: [] for name in names}
    # Per-trial progress goes to stderr: stdout carries the one JSON line.
    with tempfile.TemporaryDirectory() as storage, contextlib.redirect_stdout(sys.stderr):
        for seed in range(args.seeds):
            for name in names:
                curves[name].append(run(name, seed, args.trials, args.epochs, storage))
    budget = args.trials * args.epochs
    result = {"budget_epochs": budget, "seeds": args.seeds, "trials": args.trials, "epochs": args.epochs}
    result.update({name: summary(runs, curves["fifo_random"], budget) for name, runs in curves.items()})
    result.update(goals(result, budget))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

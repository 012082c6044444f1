"""Benchmark: sweep overhead of `tuning` against the obvious hand-written Ray Tune + Lightning script.

The same sweep three ways, each in its own fresh process: (a) the hand-written script with Tune's
defaults (function trainable, Lightning Trainer with its defaults, TuneReportCheckpointCallback,
OptunaSearch + ASHA), (a2) the same with `reuse_actors=True`, (b) `tuning run`. Same model (the
digits MLP), data, space and seed: 16 trials of 4 epochs, 2 at a time, 1 CPU each.

Trial compute is the time Lightning spends inside its epochs (train + validation), timed by the same
callback in every variant; anything else in the sweep's wall time is overhead:

    overhead per trial slot = (fit wall x concurrency - sum of compute) / trials
    efficiency              = sum of compute / (fit wall x concurrency)

The fit wall runs from Tuner.fit() to its return; `first_epoch_after_s` is how long the first trial
took to start training, `process_wall_s` the whole run after the imports of this script (ray.init,
and for tuning the sweep checks and data preparation, included): both reported apart.
Peak RSS: the driver's own process, and the largest trial worker. Prints one JSON line.

    python tests/benchmarks/overhead.py [--trials 16] [--epochs 4] [--concurrency 2]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPACE = {
    "model.init_args.lr": {"loguniform": [1.0e-4, 3.0e-2]},
    "model.init_args.hidden_dim": {"choice": [32, 64, 128]},
    "model.init_args.dropout": {"uniform": [0.0, 0.5]},
    "data.init_args.batch_size": {"choice": [32, 64, 128]},
}
SEED = 0
FIT_STARTED = []  # wall-clock time of Tuner.fit()'s start, in a child


def hand_written(args, reuse: bool) -> float:
    """The obvious script a Ray Tune + Lightning user writes; returns the fit wall time."""
    import lightning.pytorch as pl
    import ray
    from ray import tune
    from ray.tune.integration.pytorch_lightning import TuneReportCheckpointCallback
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from tests.benchmarks.epoch_timer import EpochTimer
    from tuning.data.digits import DigitsDataModule
    from tuning.models.mlp import MLPClassifier

    def train(config):
        model = MLPClassifier(lr=config["lr"], hidden_dim=config["hidden_dim"], dropout=config["dropout"])
        data = DigitsDataModule(batch_size=config["batch_size"])
        trainer = pl.Trainer(
            max_epochs=args.epochs,
            accelerator="cpu",
            enable_progress_bar=False,
            callbacks=[EpochTimer(args.log), TuneReportCheckpointCallback(on="train_epoch_end")],
        )
        trainer.fit(model, datamodule=data)

    space = {
        "lr": tune.loguniform(1e-4, 3e-2),
        "hidden_dim": tune.choice([32, 64, 128]),
        "dropout": tune.uniform(0.0, 0.5),
        "batch_size": tune.choice([32, 64, 128]),
    }
    ray.init(address="local", include_dashboard=False)  # the benchmark's own Ray, as a user's script starts it
    tuner = tune.Tuner(
        tune.with_resources(train, {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="val_loss",
            mode="min",
            num_samples=args.trials,
            search_alg=OptunaSearch(seed=SEED),
            max_concurrent_trials=args.concurrency,
            scheduler=ASHAScheduler(max_t=args.epochs),
            reuse_actors=reuse,
        ),
        run_config=tune.RunConfig(storage_path=args.storage, name="hand_written"),
    )
    start = time.perf_counter()
    FIT_STARTED.append(time.time())
    tuner.fit()
    return time.perf_counter() - start


def with_tuning(args) -> float:
    """`tuning run` on the same sweep; returns the fit wall time (run_sweep's call of driver.fit, timed)."""
    import yaml

    from tuning.cli.commands import main
    from tuning.driver import tuner

    sweep = {
        "name": "tuning",
        "model": {"class_path": "mlp"},
        "data": {"class_path": "digits"},
        "trainer": {
            "max_epochs": args.epochs,
            "accelerator": "cpu",
            "callbacks": [{"class_path": "tests.benchmarks.epoch_timer.EpochTimer", "init_args": {"path": args.log}}],
        },
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "num_samples": args.trials,
            "space": SPACE,
            "searcher": {"name": "optuna", "seed": SEED},
            "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 4},
        },
        "resources": {"cpu": 1, "max_concurrent": args.concurrency},
        "run": {"seed": SEED},
    }
    path = Path(args.storage) / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    timed, fit = {}, tuner.fit

    def timed_fit(*a, **k):
        start = time.perf_counter()
        FIT_STARTED.append(time.time())
        try:
            return fit(*a, **k)
        finally:
            timed["wall"] = time.perf_counter() - start

    tuner.fit = timed_fit  # instrumentation only: the real fit runs
    assert main(["run", str(path), "--storage", args.storage]) == 0
    return timed["wall"]


def child(args) -> None:
    """One variant in this fresh process; writes its figures to `<storage>/figures.json`."""
    started = time.perf_counter()
    wall = with_tuning(args) if args.variant == "tuning" else hand_written(args, reuse=args.variant == "reuse")
    lines = [json.loads(line) for line in Path(args.log).read_text().splitlines()]
    epochs = [line for line in lines if "seconds" in line]
    first_epoch = min(line["first_epoch_started"] for line in lines if "first_epoch_started" in line)
    compute = sum(e["seconds"] for e in epochs)
    slots = wall * args.concurrency
    process_wall = time.perf_counter() - started
    Path(args.storage, "figures.json").write_text(
        json.dumps(
            {
                "fit_wall_s": round(wall, 2),
                "process_wall_s": round(process_wall, 2),
                "first_epoch_after_s": round(first_epoch - FIT_STARTED[0], 2),
                "first_epoch_at": first_epoch,
                "last_epoch_before_end_s": round(FIT_STARTED[0] + wall - max(e["ended"] for e in epochs), 2),
                "epochs": len(epochs),
                "compute_s": round(compute, 2),
                "overhead_per_trial_s": round((slots - compute) / args.trials, 3),
                "efficiency": round(compute / slots, 3),
                "overhead_per_trial_with_startup_s": round(
                    (process_wall * args.concurrency - compute) / args.trials, 3
                ),
                "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "worker_peak_rss_mb": round(max(e["rss_mb"] for e in epochs)),
                "worker_processes": len({e["pid"] for e in epochs}),
            }
        )
    )


def run_variant(variant: str, args) -> dict:
    started, launched = time.perf_counter(), time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            variant,
            "--storage",
            tmp,
            "--log",
            f"{tmp}/epochs.jsonl",
            "--trials",
            str(args.trials),
            "--epochs",
            str(args.epochs),
            "--concurrency",
            str(args.concurrency),
        ]
        print(f"overhead: running {variant} ...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode:
            sys.exit(f"{variant} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
        figures = json.loads(Path(tmp, "figures.json").read_text())
    # From the process's launch: Python, the imports and everything after.
    first_epoch = figures.pop("first_epoch_at") - launched
    return {
        **figures,
        "process_wall_from_start_s": round(time.perf_counter() - started, 2),
        "first_epoch_from_start_s": round(first_epoch, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--variants",
        default="default,reuse,tuning",
        help="which to run, comma-separated (the goals need reuse and tuning)",
    )
    parser.add_argument("--child", dest="variant", choices=["default", "reuse", "tuning"])
    parser.add_argument("--storage")
    parser.add_argument("--log")
    args = parser.parse_args()
    if args.variant:
        return child(args)
    results = {v: run_variant(v, args) for v in args.variants.split(",")}
    if not {"reuse", "tuning"} <= results.keys():
        return print(json.dumps({"benchmark": "overhead", **results}))
    # The goals are against the strongest hand-written script of this run (reuse_actors=True), not Tune's defaults.
    best, ours = results["reuse"], results["tuning"]
    overhead = ours["overhead_per_trial_s"] / best["overhead_per_trial_s"]
    wall = ours["process_wall_from_start_s"] / best["process_wall_from_start_s"]
    first = ours["first_epoch_from_start_s"] / best["first_epoch_from_start_s"]
    default = results.get("default")
    print(
        json.dumps(
            {
                "benchmark": "overhead",
                "trials": args.trials,
                "epochs": args.epochs,
                "concurrency": args.concurrency,
                "hand_written": default,
                "hand_written_reuse_actors": best,
                "tuning": ours,
                "process_wall_from_start_s": {v: r["process_wall_from_start_s"] for v, r in results.items()},
                "overhead_ratio_vs_reuse": round(overhead, 3),
                "process_wall_ratio_vs_reuse": round(wall, 3),
                "first_epoch_ratio_vs_reuse": round(first, 3),
                "overhead_ratio_vs_defaults": default
                and round(ours["overhead_per_trial_s"] / default["overhead_per_trial_s"], 3),
                "goals": {
                    "overhead_le_reuse": overhead <= 1.0,
                    "process_wall_le_0.6x_reuse": wall <= 0.6,
                    "first_epoch_le_0.6x_reuse": first <= 0.6,
                },
            }
        )
    )


if __name__ == "__main__":
    main()

"""Benchmark: a 1000-trial sweep of the synthetic objective through `tuning run`, against Ray Tune's own floor.

(a) `tuning run synthetic` (Hartmann-6, 27 iterations, TPE + ASHA) with N trials, 2 at a time, in a
    subprocess whose RSS is sampled; inside it, OptunaSearch's suggest and result calls are timed (a
    wrapper installed before `tuning.cli.main`, nothing else changed).
(b) Baseline, same run: a plain `tune.Tuner` script (no tuning code) with the same trainable, the same
    TPE settings (in-memory study) and ASHA, the same trials and concurrency, `reuse_actors=True`.
(c) Optuna's TPE suggestion time at 100/500/1000 finished trials of the same space, for sampler options.

Bookkeeping per trial = (sweep window - sum of trial compute / concurrency) / trials, where the sweep
window runs from the first trial's start to the last result (start-up and the final report are
reported apart). Prints one JSON line; progress goes to stderr.

Goals, as ratios to the baseline (b) of the same run, over the same number of trials (tuning's first ones
where it ran more): bookkeeping per trial at most GOAL_BOOKKEEPING times Ray Tune's floor and driver peak
RSS at most GOAL_RSS times the plain script's.

Flat at scale (`per_1000`: each block of --block trials in start order): the driver's RSS grows by at most
GOAL_RSS_GROWTH_MIB per block after the first, and the last block's bookkeeping per trial is at most
GOAL_FLAT times the first block's.

    python tests/benchmarks/scale_1000.py [--trials 1000] [--concurrency 2] [--baseline-trials 1000]
    python tests/benchmarks/scale_1000.py --trials 5000 --skip suggest [--history 1000]   # flatness
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ITERATIONS = 27
GOAL_BOOKKEEPING, GOAL_RSS = 1.5, 1.5  # tuning / plain tune.Tuner, same run
GOAL_RSS_GROWTH_MIB, GOAL_FLAT = 50, 1.5  # per 1000 trials after the first 1000; last 1000 / first 1000


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def sample_rss(proc: subprocess.Popen, peak: dict) -> None:
    """Peak RSS of the driver process (not its Ray children), sampled every 0.1 s; the samples as (time, bytes)."""
    import psutil

    handle = psutil.Process(proc.pid)
    peak["samples"] = []
    while proc.poll() is None:
        try:
            rss = handle.memory_info().rss
        except psutil.Error:
            break
        peak["rss"] = max(peak.get("rss", 0), rss)
        peak["samples"].append((time.time(), rss))
        time.sleep(0.1)


def timed_run(args: list[str], env: dict | None = None) -> dict:
    """Run a command; its wall time, peak RSS (MiB) and exit status."""
    start = time.time()
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    peak: dict = {}
    sampler = threading.Thread(target=sample_rss, args=(proc, peak), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    end = time.time()
    sampler.join()
    if proc.returncode:
        log(out[-3000:], err[-3000:])
        raise SystemExit(f"{args[:4]} exited {proc.returncode}")
    return {
        "start": start,
        "end": end,
        "rss_mib": round(peak.get("rss", 0) / 2**20, 1),
        "rss_samples": peak.get("samples", []),
    }


def trial_figures(exp: Path, run: dict, concurrency: int) -> dict:
    """Wall, start-up, compute and bookkeeping per trial from the trials' result.json files."""
    starts, ends, compute, iterations, stopped = [], [], [], 0, 0
    for result in exp.glob("*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        if not rows:
            continue
        starts.append(rows[0]["timestamp"] - rows[0]["time_total_s"])
        ends.append(rows[-1]["timestamp"])
        compute.append(rows[-1]["time_total_s"])
        iterations += len(rows)
        stopped += rows[-1]["training_iteration"] < ITERATIONS
    trials, window = len(compute), max(ends) - min(starts)
    blocks = per_block(sorted(zip(starts, ends, compute)), run["rss_samples"], concurrency)
    return {
        "per_1000": blocks,
        **flatness(blocks),
        "trials": trials,
        "results": iterations,
        "stopped_early": stopped,
        "wall_s": round(run["end"] - run["start"], 1),
        "startup_s": round(min(starts) - run["start"], 1),
        "after_last_result_s": round(run["end"] - max(ends), 1),
        "sweep_window_s": round(window, 1),
        "compute_s": round(sum(compute), 2),
        "bookkeeping_per_trial_s": round((window - sum(compute) / concurrency) / trials, 4),
        "driver_rss_mib": run["rss_mib"],
    }


BLOCK = 1000


def per_block(trials: list, rss_samples: list, concurrency: int) -> list[dict]:
    """Each block of BLOCK trials in start order: bookkeeping per trial (the block's window, from its first
    trial's start to the next block's, less its compute / concurrency) and the driver's RSS at its end."""
    blocks = []
    for first in range(0, len(trials), BLOCK):
        block = trials[first : first + BLOCK]
        until = trials[first + BLOCK][0] if first + BLOCK < len(trials) else max(end for _, end, _ in block)
        compute = sum(c for _, _, c in block)
        rss = [r for t, r in rss_samples if t <= until]
        blocks.append(
            {
                "trials": first + len(block),
                "bookkeeping_per_trial_s": round((until - block[0][0] - compute / concurrency) / len(block), 4),
                "driver_rss_mib": round(max(rss or [0]) / 2**20, 1),
            }
        )
    return blocks


def flatness(blocks: list[dict]) -> dict:
    """Goal 3 (issue 19): RSS growth per BLOCK trials after the first block, and the last full block's
    bookkeeping per trial against the first's."""
    full = [b for b in blocks if b["trials"] % BLOCK == 0]
    if len(full) < 2:
        return {}
    growth = (full[-1]["driver_rss_mib"] - full[0]["driver_rss_mib"]) / (len(full) - 1)
    ratio = full[-1]["bookkeeping_per_trial_s"] / full[0]["bookkeeping_per_trial_s"]
    return {
        "rss_growth_mib_per_1000": round(growth, 1),
        "bookkeeping_last_to_first_1000": round(ratio, 2),
        "goal_flat": growth <= GOAL_RSS_GROWTH_MIB and ratio <= GOAL_FLAT,
    }


def run_tuning(
    root: Path, trials: int, concurrency: int, profile: str | None = None, history: int | None = None
) -> dict:
    """(a): the sweep through `tuning run`, with the searcher's calls timed inside the driver."""
    timings = root / "searcher_times.json"
    args = (
        [
            sys.executable,
            __file__,
            "--child",
            "tuning",
            "--out",
            str(timings),
            "--trials",
            str(trials),
            "--concurrency",
            str(concurrency),
            "--storage",
            str(root),
        ]
        + (["--profile", profile] if profile else [])
        + (["--history", str(history)] if history else [])
    )
    figures = trial_figures(root / "scale", timed_run(args), concurrency)
    calls = json.loads(timings.read_text())
    for name, samples in calls.items():  # [(trials told so far, seconds)]
        figures[f"{name}_ms"] = {
            f"~{n}": round(1000 * statistics.median(s for k, s in samples if n - 50 < k <= n), 2)
            for n in (100, 500, trials)
            if any(n - 50 < k <= n for k, _ in samples)
        }
        figures[f"{name}_total_s"] = round(sum(s for _, s in samples), 1)
    return figures


def child_tuning(args) -> None:
    """Runs inside the driver process: time OptunaSearch's calls, then run `tuning run synthetic`."""
    import atexit

    from ray.tune.search.optuna import OptunaSearch

    calls = {"suggest": [], "on_trial_result": [], "on_trial_complete": []}
    for name in calls:
        original = getattr(OptunaSearch, name)

        def timed(self, *a, _original=original, _name=name, **k):
            start = time.perf_counter()
            try:
                return _original(self, *a, **k)
            finally:
                calls[_name].append((len(calls["suggest"]), time.perf_counter() - start))  # trials proposed so far

        setattr(OptunaSearch, name, timed)
    atexit.register(lambda: Path(args.out).write_text(json.dumps(calls)))
    from tuning.cli.commands import main

    argv = [
        "run",
        "synthetic",
        "--storage",
        args.storage,
        "--name",
        "scale",
        "--set",
        f"search.num_samples={args.trials}",
        "--set",
        f"resources.max_concurrent={args.concurrency}",
        "--set",
        f"objective.iterations={ITERATIONS}",
        "--set",
        "search.searcher.seed=0",
    ] + (["--set", f"search.searcher.history={args.history}"] if args.history else [])
    if not args.profile:
        return main(argv)
    import cProfile

    try:
        cProfile.runctx("main(argv)", globals(), {"main": main, "argv": argv}, args.profile)
    except SystemExit:
        pass


def child_baseline(args) -> None:
    """(b) Ray Tune alone: the same objective as a plain function, OptunaSearch + ASHA, no tuning code."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only, as on every sweep here
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from tuning.search.synthetic import value  # the function alone: a few lines of math

    def trainable(config):
        x = [config[f"x{i}"] for i in range(6)]
        for t in range(1, ITERATIONS + 1):
            tune.report({"value": value("hartmann6", x, t, ITERATIONS)})

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ray.init(include_dashboard=False, log_to_driver=False)
    sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True)
    tuner = tune.Tuner(
        trainable,
        param_space={f"x{i}": tune.uniform(0.0, 1.0) for i in range(6)},
        tune_config=tune.TuneConfig(
            metric="value",
            mode="min",
            num_samples=args.trials,
            max_concurrent_trials=args.concurrency,
            search_alg=OptunaSearch(sampler=sampler),
            reuse_actors=True,
            scheduler=ASHAScheduler(max_t=ITERATIONS, grace_period=1, reduction_factor=3),
        ),
        run_config=tune.RunConfig(name="scale", storage_path=args.storage, verbose=0),
    )
    tuner.fit()


def run_baseline(root: Path, trials: int, concurrency: int) -> dict:
    """(b), in a fresh process like (a)."""
    args = [
        sys.executable,
        __file__,
        "--child",
        "baseline",
        "--trials",
        str(trials),
        "--concurrency",
        str(concurrency),
        "--storage",
        str(root),
    ]
    return trial_figures(root / "scale", timed_run(args), concurrency)


def _filled_study(storage, sampler, n: int, seed: int = 0):
    """A study holding `n` finished trials at uniform random points of the Hartmann-6 space, and 1 running."""
    import random

    import optuna

    from tuning.search.synthetic import hartmann6

    rng, dists = (
        random.Random(seed),
        {f"objective.x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(6)},
    )
    study = optuna.create_study(storage=storage, sampler=sampler)
    for _ in range(n):
        params = {key: rng.random() for key in dists}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=hartmann6(list(params.values())))
        )
    study.ask(dists)  # one trial running alongside, as with 2 at a time (the constant liar sees it)
    return study, dists


def suggest_times(sizes=(100, 500, 1000, 2000), repeats: int = 15) -> dict:
    """(c) Median ms of one TPE ask (then tell) at each study size, for each sampler option and storage."""
    import optuna

    from tuning.driver.resume import study_storage
    from tuning.search.searchers import SAMPLERS

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {
        "tuning_tpe": lambda: SAMPLERS["tpe"].factory(optuna, 0),  # multivariate, constant liar
        "independent_tpe": lambda: optuna.samplers.TPESampler(seed=0, constant_liar=True),
        "multivariate_no_liar": lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=False),
    }
    storages = {
        "memory": lambda d: None,
        "tuning_sqlite": lambda d: study_storage("optuna", d),
        "plain_sqlite": lambda d: optuna.storages.RDBStorage(f"sqlite:///{d / 'plain.db'}"),
    }
    cases = [(name, "memory") for name in samplers] + [("tuning_tpe", "tuning_sqlite"), ("tuning_tpe", "plain_sqlite")]
    out = {}
    for sampler, storage in cases:
        row = {}
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                study, dists = _filled_study(storages[storage](Path(tmp)), samplers[sampler](), n)
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    trial = study.ask(dists)
                    times.append(time.perf_counter() - start)
                    study.tell(trial, 0.0)
                row[str(n)] = round(1000 * statistics.median(times), 1)
        out[f"{sampler}@{storage}"] = row
        log(sampler, storage, row)
    return out


def goals(tuning: dict, floor: dict) -> dict:
    """tuning's bookkeeping per trial and driver RSS as ratios to the plain script's, and whether both are met:
    over the same number of trials (tuning's first ones where it ran more)."""
    if tuning["trials"] > floor["trials"]:
        tuning = next(b for b in tuning["per_1000"] if b["trials"] >= floor["trials"])
    bookkeeping = round(tuning["bookkeeping_per_trial_s"] / floor["bookkeeping_per_trial_s"], 2)
    rss = round(tuning["driver_rss_mib"] / floor["driver_rss_mib"], 2)
    return {
        "bookkeeping_ratio_to_floor": bookkeeping,
        "rss_ratio_to_floor": rss,
        "goal_bookkeeping_ratio": GOAL_BOOKKEEPING,
        "goal_rss_ratio": GOAL_RSS,
        "goal_met": bookkeeping <= GOAL_BOOKKEEPING and rss <= GOAL_RSS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--baseline-trials", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--history", type=int, help="tuning's sweep with search.searcher.history set to this")
    parser.add_argument("--block", type=int, default=1000, help="trials per block of the flatness figures")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: tuning,baseline,suggest")
    parser.add_argument("--profile", help="write cProfile stats of the tuning driver to this file")
    parser.add_argument("--child", choices=["tuning", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.exit((child_tuning if args.child == "tuning" else child_baseline)(args))
    skip = set(args.skip.split(","))
    global BLOCK
    BLOCK = args.block
    out = {
        "benchmark": "scale_1000",
        "cores": os.cpu_count(),
        "concurrency": args.concurrency,
        "load_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if "tuning" not in skip:
            log(f"tuning run synthetic: {args.trials} trials ...")
            (Path(tmp) / "a").mkdir()
            out["tuning"] = run_tuning(Path(tmp) / "a", args.trials, args.concurrency, args.profile, args.history)
            out["tuning"]["history"] = args.history
            log(json.dumps(out["tuning"]))
        if "baseline" not in skip:
            log(f"plain tune.Tuner: {args.baseline_trials} trials ...")
            (Path(tmp) / "b").mkdir()
            out["ray_tune_floor"] = run_baseline(Path(tmp) / "b", args.baseline_trials, args.concurrency)
            log(json.dumps(out["ray_tune_floor"]))
    if "suggest" not in skip:
        out["tpe_suggest_ms"] = suggest_times()
    if "tuning" in out and "ray_tune_floor" in out:
        out.update(goals(out["tuning"], out["ray_tune_floor"]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

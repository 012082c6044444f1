"""Benchmark (GPU): `resources.gpu: 0.25` packs four trials onto one GPU, against `gpu: 1`.

The same sweep (digits MLP, bf16-mixed, random search, no early stopping) runs twice on one GPU:
with `gpu: 0.25` and with `gpu: 1` (the baseline, measured in the same run). Prints one JSON line:
per setting the sweep's wall time, how many trials ran at once at most (from the trials' own start
and end times), each trial's peak GPU memory (torch.cuda.max_memory_allocated, MiB), and the
speed-up of packing. Needs a CUDA GPU and the project's dependencies (see gpu_pack.sh).

    python tests/benchmarks/gpu_pack.py [--trials 8] [--epochs 10]
"""

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import lightning.pytorch as pl


class GpuMemory(pl.Callback):
    """Writes this trial's peak GPU memory and its start and end times to `out_dir`."""

    def __init__(self, out_dir: str):
        self.out_dir, self.start = out_dir, None

    def on_fit_start(self, trainer, pl_module):
        import torch

        torch.cuda.reset_peak_memory_stats()
        self.start = time.time()

    def on_fit_end(self, trainer, pl_module):
        import torch

        info = {
            "start": self.start,
            "end": time.time(),
            "pid": os.getpid(),
            "peak_allocated_mib": torch.cuda.max_memory_allocated() / 2**20,
            "peak_reserved_mib": torch.cuda.max_memory_reserved() / 2**20,
            "precision": str(trainer.precision),
            "device": str(pl_module.device),
        }
        Path(self.out_dir, f"{uuid.uuid4().hex}.json").write_text(json.dumps(info))


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def sweep(gpu: float, trials: int, epochs: int, out_dir: str) -> dict:
    """The benchmark's sweep with `gpu` GPUs per trial."""
    return {
        "name": f"gpu-{gpu:g}",
        "model": {"class_path": "mlp", "init_args": {"hidden_dim": 256, "num_layers": 3}},
        "data": {"class_path": "digits", "init_args": {"batch_size": 64}},
        "trainer": {
            "max_epochs": epochs,
            "accelerator": "gpu",
            "precision": "bf16-mixed",
            "callbacks": [{"class_path": "tests.benchmarks.gpu_pack.GpuMemory", "init_args": {"out_dir": out_dir}}],
        },
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "num_samples": trials,
            "space": {"model.init_args.lr": {"loguniform": [1.0e-4, 1.0e-2]}},
            "searcher": {"name": "random", "seed": 0},
            "scheduler": {"name": "fifo"},
        },
        "resources": {"cpu": 2, "gpu": gpu},
        "run": {"seed": 0},
    }


def measure(gpu: float, trials: int, epochs: int, root: Path) -> dict:
    """Run the sweep once; wall time, concurrency and per-trial GPU memory."""
    from tuning.driver.tuner import run_sweep
    from tuning.report.load import load_report
    from tuning.sweep.config import parse_sweep

    out_dir = root / f"memory-{gpu:g}"
    out_dir.mkdir()
    cfg = parse_sweep(sweep(gpu, trials, epochs, str(out_dir)))
    start = time.perf_counter()
    exp = run_sweep(cfg, storage=str(root / "runs"))
    wall = time.perf_counter() - start
    records = [json.loads(p.read_text()) for p in out_dir.glob("*.json")]
    report = load_report(str(exp))
    return {
        "wall_s": round(wall, 1),
        "trials_completed": sum(t.status == "completed" for t in report.trials),
        "max_trials_at_once": max_overlap([(r["start"], r["end"]) for r in records]),
        "per_trial_peak_allocated_mib": sorted(round(r["peak_allocated_mib"], 1) for r in records),
        "per_trial_peak_reserved_mib": sorted(round(r["peak_reserved_mib"], 1) for r in records),
        "precision": sorted({r["precision"] for r in records}),
        "best_val_loss": report.trials[0].metric,
    }


def main() -> None:
    """Run both settings on the same GPU and print one JSON line."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_pack", "error": "no CUDA GPU visible"}))
        raise SystemExit(3)
    from tuning.driver.tuner import start_ray

    start_ray()
    with tempfile.TemporaryDirectory() as tmp:
        packed = measure(0.25, args.trials, args.epochs, Path(tmp))
        baseline = measure(1.0, args.trials, args.epochs, Path(tmp))
    print(
        json.dumps(
            {
                "benchmark": "gpu_pack",
                "gpu": torch.cuda.get_device_name(0),
                "trials": args.trials,
                "epochs": args.epochs,
                "gpu_0.25": packed,
                "gpu_1 (baseline)": baseline,
                "speedup": round(baseline["wall_s"] / packed["wall_s"], 2),
                "four_at_once": packed["max_trials_at_once"] >= 4,
            }
        )
    )


if __name__ == "__main__":
    main()

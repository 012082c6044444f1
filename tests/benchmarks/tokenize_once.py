"""Benchmark: a text sweep tokenizes once, in the driver; trials only memory-map the cached Arrow files.

Run from the repository root: `python tests/benchmarks/tokenize_once.py [--texts N] [--every-trials K]`.
Prints one JSON line. Three sweeps on N texts (default 24,000) made from standard-library docstrings: 8
trials that read the driver's cache, 2 more on the same cache (a second sweep), and, as the same-run
baseline, K trials (default 8, the first sweep's count) that each tokenize the texts themselves, into a
cache of their own, as they would without the driver's: its cost is measured in every trial, not
multiplied out. Also, in this process, the memory a memory-mapped load costs against an in-memory copy.
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tuning.data.text_classification import TextClassificationDataModule  # noqa: E402

N_TEXTS = 24_000


class MeasuredText(TextClassificationDataModule):
    """text_classification that records, inside each trial, its data time and its memory."""

    def __init__(self, measure_file: str, **kwargs):
        super().__init__(**kwargs)
        self.measure_file = measure_file
        self.seconds = self.tokenize_s = 0.0

    def prepare_data(self) -> None:
        start = time.perf_counter()
        super().prepare_data()
        self.seconds += time.perf_counter() - start

    def setup(self, stage: str | None = None) -> None:
        start = time.perf_counter()
        super().setup(stage)
        self.seconds += time.perf_counter() - start

    def teardown(self, stage: str | None = None) -> None:
        if not os.environ.get("TUNING_IN_TRIAL"):
            return  # the driver's metric check also fits briefly
        import psutil

        info = psutil.Process().memory_full_info()
        line = {
            "pid": os.getpid(),
            "setup_s": self.seconds,
            "tokenize_s": self.tokenize_s,
            "rss_mb": info.rss / 2**20,
            "uss_mb": info.uss / 2**20,
            **arrow_mappings(self.entry),
        }
        with open(self.measure_file, "a") as fh:
            fh.write(json.dumps(line) + "\n")


class TokenizeInTrial(MeasuredText):
    """MeasuredText whose every trial tokenizes the texts itself, into a cache of its own: what each trial would pay
    without the driver's shared cache (the trial's refusal to tokenize is lifted for this measurement)."""

    def __init__(self, measure_file: str, **kwargs):
        super().__init__(measure_file, **kwargs)
        if os.environ.get("TUNING_IN_TRIAL"):
            self.root = Path(tempfile.mkdtemp(prefix="trial-", dir=self.root))
            self._entry = None

    def prepare_data(self) -> None:
        flag = os.environ.pop("TUNING_IN_TRIAL", None)
        start = time.perf_counter()
        try:
            super().prepare_data()
        finally:
            if flag is not None:
                os.environ["TUNING_IN_TRIAL"] = flag
                self.tokenize_s += time.perf_counter() - start


def arrow_mappings(entry: Path) -> dict:
    """Resident and private-dirty MiB of this process's mappings of the cache entry's files."""
    rss = dirty = 0
    inside = False
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            inside = len(fields) >= 6 and fields[5].startswith(str(entry))
        elif inside and fields[0] == "Rss:":
            rss += int(fields[1])
        elif inside and fields[0] == "Private_Dirty:":
            dirty += int(fields[1])
    return {"arrow_resident_mb": rss / 1024, "arrow_private_dirty_mb": dirty / 1024}


def write_texts(path: Path, scratch: Path, n_texts: int = N_TEXTS) -> None:
    """`n_texts` rows of two docstrings each, labelled by the package of the first."""
    from tuning.data.python_docs import build_corpus

    rows = [r for f in build_corpus(scratch).values() for r in csv.DictReader(open(f))]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(n_texts):
            first, second = rows[i % len(rows)], rows[(7 * i + 3) % len(rows)]
            writer.writerow([first["text"] + " " + second["text"], first["label"]])


def sweep(data_args: dict, samples: int, name: str, data_class: str = "MeasuredText") -> dict:
    """A sweep of a tiny model whose trials train briefly: the data path is what is measured."""
    return {
        "name": name,
        "model": {
            "class_path": "text_classifier",
            "init_args": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32},
        },
        "data": {"class_path": f"tests.benchmarks.tokenize_once.{data_class}", "init_args": data_args},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "limit_train_batches": 20, "limit_val_batches": 5},
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "num_samples": samples,
            "space": {"model.init_args.lr": {"loguniform": [1.0e-3, 1.0e-2]}},
            "searcher": {"name": "random", "seed": 0},
            "scheduler": {"name": "fifo"},
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0},
    }


def memory_baseline(entry: Path) -> dict:
    """USS growth of loading the cached train split memory-mapped vs into memory, all pages read."""
    import psutil
    import pyarrow.compute as pc
    from datasets import load_from_disk

    growth = {}
    for mode, in_memory in (("mmap", False), ("in_memory", True)):
        before = psutil.Process().memory_full_info().uss
        data = load_from_disk(str(entry / "dataset" / "train"), keep_in_memory=in_memory)
        pc.sum(pc.list_flatten(data.data.column("input_ids")))  # touches every token's page
        growth[f"{mode}_uss_growth_mb"] = round((psutil.Process().memory_full_info().uss - before) / 2**20, 1)
        del data
    return growth


def timed_sweep(
    data_args: dict, samples: int, name: str, measures: Path, work: Path, data_class: str = "MeasuredText"
) -> tuple[float, list[dict]]:
    """Run one sweep whose trials record into `measures`; its wall time and the trials' records."""
    from tuning.driver.tuner import run_sweep
    from tuning.sweep.config import parse_sweep

    start = time.perf_counter()
    run_sweep(
        parse_sweep(sweep({**data_args, "measure_file": str(measures)}, samples, name, data_class)),
        storage=str(work / "runs"),
    )
    return time.perf_counter() - start, [json.loads(line) for line in measures.read_text().splitlines()]


def mean(trials: list[dict], key: str) -> float:
    return sum(t[key] for t in trials) / len(trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=N_TEXTS, help="texts to tokenize (a reduced sample: fewer)")
    parser.add_argument("--every-trials", type=int, default=8, help="trials of the sweep that tokenizes in each")
    opts = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    from tuning.data.text_cache import read_meta, tokenize_runs

    work = Path(tempfile.mkdtemp(prefix="tokenize_once_"))
    write_texts(work / "texts.csv", work / "corpus", opts.texts)
    args = {
        "data_files": str(work / "texts.csv"),
        "cache_dir": str(work / "cache"),
        "max_length": 256,
        "batch_size": 32,
    }
    first_wall, trials = timed_sweep(args, 8, "first", work / "first.jsonl", work)
    runs = tokenize_runs(work / "cache")
    entry = work / "cache" / runs[0]["fingerprint"]
    meta = read_meta(entry)

    again = MeasuredText(**args, measure_file=str(work / "again.jsonl"))
    start = time.perf_counter()
    again.prepare_data()  # what the second sweep's driver does: a cache hit
    hit_s = time.perf_counter() - start
    timed_sweep(args, 2, "second", work / "second.jsonl", work)
    runs_after_both = len(tokenize_runs(work / "cache"))
    # The baseline: the same sweep, every trial tokenizing for itself (the driver's prepare is a cache hit).
    every_wall, every = timed_sweep(args, opts.every_trials, "every", work / "every.jsonl", work, "TokenizeInTrial")
    setup_mean, every_setup_mean = mean(trials, "setup_s"), mean(every, "setup_s")
    print(
        json.dumps(
            {
                "texts": sum(meta["splits"].values()),
                "arrow_mb": round(meta["arrow_bytes"] / 2**20, 1),
                "tokenize_s": meta["tokenize_s"],
                "trials": len(trials),
                "trial_data_setup_s_mean": round(setup_mean, 3),
                "setup_over_tokenize": round(setup_mean / meta["tokenize_s"], 4),
                "every_trial_tokenizing": {
                    "trials": len(every),
                    "tokenize_s_mean": round(mean(every, "tokenize_s"), 2),
                    "tokenize_s_total": round(sum(t["tokenize_s"] for t in every), 1),
                    "data_setup_s_mean": round(every_setup_mean, 3),
                    "sweep_wall_s": round(every_wall, 1),
                },
                "goal_setup_once_over_every_trial": round(setup_mean / every_setup_mean, 4),
                "goal_sweep_wall_once_over_every_trial": round(first_wall / every_wall, 3)
                if len(every) == len(trials)
                else None,
                "trial_rss_mb_mean": round(mean(trials, "rss_mb"), 1),
                "trial_uss_mb_mean": round(mean(trials, "uss_mb"), 1),
                "trial_arrow_resident_mb_max": round(max(t["arrow_resident_mb"] for t in trials), 1),
                "trial_arrow_private_dirty_mb_max": round(max(t["arrow_private_dirty_mb"] for t in trials), 2),
                **memory_baseline(entry),
                "tokenize_runs_after_both_sweeps": runs_after_both,
                "second_prepare_s": round(hit_s, 3),
                "first_sweep_wall_s": round(first_wall, 1),
                "load_avg_1m": os.getloadavg()[0],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

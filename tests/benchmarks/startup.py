"""Benchmark: start-up of `tuning --help` and `tuning validate quickstart`.

Baselines from the same run: `python -c pass` (the interpreter), `python -c "import torch"`, and
the importing check that `tuning validate` ran before it read classes from source (the one
`tuning run` keeps in its preflight). Each figure is the median wall time of --repeat runs; each
path also reports which heavy libraries it imported. Prints one JSON line.

The goal is a ratio to `import torch` measured in the same run, so a slow or busy machine moves both
sides: each command at most GOAL_OVER_TORCH of it (the former 1 s target, where `import torch` took
1.6 s on an idle 2-core machine, is 0.62 of it).

    python tests/benchmarks/startup.py [--repeat 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HEAVY = (
    "torch",
    "pytorch_lightning",
    "lightning",
    "ray",
    "pyarrow",
    "pandas",
    "optuna",
    "sklearn",
    "scipy",
    "numpy",
    "transformers",
    "datasets",
)
# Runs one path in-process, then names the heavy libraries it left in sys.modules (argparse exits on --help).
PROBE = (
    "import json, sys\ntry:\n    exec(sys.argv[1])\nexcept SystemExit:\n    pass\n"
    "print('HEAVY=' + json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr)" % (HEAVY,)
)
GOAL_OVER_TORCH = 0.6
IMPORTING_CHECK = (
    "from tuning.sweep.classes import check_classes; from tuning.sweep.config import load_sweep; "
    "check_classes(load_sweep('quickstart', []))"
)
PATHS = {
    "python_pass": "pass",
    "import_torch": "import torch",
    "tuning_help": "from tuning.cli.commands import main; main(['--help'])",
    "tuning_validate": "from tuning.cli.commands import main; main(['validate', 'quickstart'])",
    "validate_importing_check": IMPORTING_CHECK,
}


def wall(code: str) -> float:
    """Seconds of one fresh interpreter running `code`, which must succeed."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def heavy_imports(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter has imported after running `code`."""
    err = subprocess.run([sys.executable, "-c", PROBE, code], check=True, capture_output=True, text=True).stderr
    return json.loads(err.rsplit("HEAVY=", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    out = {
        "benchmark": "startup",
        "goal_over_import_torch": GOAL_OVER_TORCH,
        "repeat": args.repeat,
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    for name, code in PATHS.items():
        wall(code)  # warm the file cache and the bytecode
        out[f"{name}_s"] = round(statistics.median(wall(code) for _ in range(args.repeat)), 3)
    for name in ("tuning_help", "tuning_validate", "validate_importing_check"):
        out[f"{name}_imports"] = heavy_imports(PATHS[name])
    for name in ("tuning_help", "tuning_validate"):
        out[f"{name}_over_import_torch"] = round(out[f"{name}_s"] / out["import_torch_s"], 3)
    out["validate_over_importing_check"] = round(out["tuning_validate_s"] / out["validate_importing_check_s"], 3)
    out["goal_met"] = all(out[f"{n}_over_import_torch"] <= GOAL_OVER_TORCH for n in ("tuning_help", "tuning_validate"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

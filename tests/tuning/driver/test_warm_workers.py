"""Trials of a local sweep run in the workers Ray started with it, which imported Lightning as they started."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]

# A fresh local Ray in its own process, started as `tuning run` starts it. Prints the workers Ray started
# at connect time that have torch loaded (its shared library mapped) before anything was asked of them,
# then whether the worker a task lands in has Lightning imported.
SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import psutil, ray
    from tuning.sweep.config import load_sweep
    from tuning.driver import tuner

    tuner.start_ray(None, tuner.worker_preload(load_sweep(sys.argv[1], [])))

    def warm_workers():  # this Ray's own workers only, with libtorch mapped: another test's Ray may run beside it
        found = set()
        for proc in psutil.Process().children(recursive=True):
            try:
                if (proc.cmdline() or [""])[0].startswith("ray::") and any(
                        "libtorch" in m.path for m in proc.memory_maps()):
                    found.add(proc.pid)
            except psutil.Error:  # gone meanwhile
                pass
        return found

    deadline = time.monotonic() + 180
    while len(warm := warm_workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)

    @ray.remote(num_cpus=0)
    def probe():
        return os.getpid(), "lightning.pytorch" in sys.modules

    pid, imported = ray.get(probe.remote())
    print(json.dumps({"warm": sorted(warm), "task_pid": pid, "lightning_imported": imported}))
""")


@pytest.mark.integration
def test_workers_ray_starts_with_the_driver_import_lightning_before_any_trial(tmp_path, tiny_sweep):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump(tiny_sweep))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(sweep)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(found["warm"]) >= 2, "the workers Ray started when the driver connected hold no torch"
    assert found["lightning_imported"], "a task found a worker without Lightning imported"
    # Whether Tune's trial actors take exactly these workers depends on load (Ray may replace idle workers);
    # tests/benchmarks/overhead.py measures what the warm start saves.


def test_lightning_is_preloaded_only_where_most_started_workers_run_trials(tiny_sweep):
    from tuning.driver.tuner import worker_preload
    from tuning.sweep.config import parse_sweep

    tiny_sweep["resources"] = {"cpu": 1, "max_concurrent": 2}
    assert worker_preload(parse_sweep(tiny_sweep), cpus=2) == ("lightning.pytorch", "lightning.pytorch.cli", "ray.tune")
    assert worker_preload(parse_sweep(tiny_sweep), cpus=64) == ()  # 62 idle workers of ~470 MB each
    tiny_sweep["resources"] = {"cpu": 1}  # as many at once as the CPUs allow
    assert worker_preload(parse_sweep(tiny_sweep), cpus=64) == (
        "lightning.pytorch",
        "lightning.pytorch.cli",
        "ray.tune",
    )
    tiny_sweep["resources"] = {"cpu": 4}  # 16 trials at once on 64 CPUs
    assert worker_preload(parse_sweep(tiny_sweep), cpus=64) == ()

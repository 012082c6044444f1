"""A disk that fills up under a sweep (issue 32): the driver stops with one clear message and exit 1, leaves no
half-written file, and the sweep resumes to the end once there is room again."""

import os
import subprocess

import pytest
import yaml

from tests.in_process import tuning_here
from tests.synthetic_sweeps import branin_sweep
from tuning.errors import disk_full
from tuning.report.load import load_report

SWEEP = branin_sweep({"name": "optuna"}, {"name": "fifo"}, 40, name="syn")


def test_a_full_disk_is_found_through_the_errors_it_caused():
    with pytest.raises(OSError) as full:
        with open("/dev/full", "w") as device:  # a real ENOSPC
            device.write("x")
    assert disk_full(full.value) == "/dev/full" or disk_full(full.value) == ""
    try:
        try:
            raise full.value
        except OSError as exc:
            raise RuntimeError("An exception is raised during the commit") from exc  # as Optuna wraps SQLite's
    except RuntimeError as wrapped:
        assert disk_full(wrapped) is not None
    assert disk_full(RuntimeError("database is locked")) is None
    assert disk_full(PermissionError(13, "Permission denied", "x")) is None


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs of this test's own, a disk that really fills up (the study's SQLite log alone grows to 4 MiB
    before SQLite folds it in)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a small tmpfs needs root: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_sweep_on_a_full_disk_stops_clearly_and_resumes_once_there_is_room(ray_session, tmp_path, small_disk):
    sweep = tmp_path / "syn.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(b"\0" * (free - 350_000))  # room for the experiment's start and a few trials

    run = tuning_here("run", str(sweep), "--storage", str(small_disk / "runs"))
    exp = small_disk / "runs" / "syn"
    assert run.returncode == 1, run.stderr
    assert "tuning run: error: no space left on the disk" in run.stderr and "Traceback" not in run.stderr
    assert "tuning resume EXPERIMENT" in run.stderr
    assert [p.name for p in exp.iterdir() if p.name.endswith(".tmp")] == []  # no half-written environment.json
    assert (exp / "sweep.yaml").exists()

    filler.unlink()
    resumed = tuning_here("resume", str(exp))
    assert resumed.returncode == 0, resumed.stderr
    trials = load_report(str(exp)).trials
    assert len(trials) == 40 and {t.status for t in trials} == {"completed"}
    assert len({tuple(sorted(t.config.items())) for t in trials}) == 40

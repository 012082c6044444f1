"""`environment.json`: what ran a sweep (versions, the user's git commit, nodes) and when.

Written atomically (a temporary file, then a rename), so it is whole after a crash at any moment.
Each `tuning run` or `tuning resume` adds an entry to `runs` with its start, end and outcome.
"""

import json
import os
import platform
import socket
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from tuning.bounded import Unreadable, load_json, read_regular
from tuning.expdir import ENVIRONMENT_FILE, MAX_FILE_BYTES

PACKAGES = ("torch", "pytorch-lightning", "ray", "optuna", "transformers")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_state(directory: str) -> dict | None:
    """Commit and dirtiness of the git checkout holding `directory` (the user's code), or None."""

    def git(*args):
        return subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        status = git("status", "--porcelain", "--untracked-files=no")
        root = git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip()), "root": root.stdout.strip()}


def ray_nodes() -> list[dict]:
    """The live nodes of the connected Ray cluster: address, hostname and resources."""
    import ray

    return [
        {
            "node_id": n["NodeID"],
            "address": n["NodeManagerAddress"],
            "hostname": n["NodeManagerHostname"],
            "head": "node:__internal_head__" in n["Resources"],
            "resources": {k: v for k, v in n["Resources"].items() if not k.startswith("node:")},
        }
        for n in ray.nodes()
        if n.get("Alive")
    ]


def _read(path) -> dict:
    data = _parsed(path)
    return data if isinstance(data, dict) else {}


def _parsed(path):
    try:
        if isinstance(path, str):  # a URI experiment's file
            from tuning.storage import read_text

            return json.loads(read_text(path))
        # bounded, regular files only: a FIFO or a huge file put in its place is not read (it is replaced)
        return load_json(read_regular(str(path), str(path.parent.resolve()), MAX_FILE_BYTES).decode())
    except (OSError, ValueError, Unreadable):
        return {}


def _write(path, data: dict) -> None:
    text = json.dumps(data, indent=1, default=str)
    if isinstance(path, str):
        from tuning.storage import replace_text

        return replace_text(path, text)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written copy beside the real file


def _location(exp_dir) -> Path | str:
    """environment.json of a local experiment (a Path) or of one on URI storage (a str)."""
    if isinstance(exp_dir, Path):
        return exp_dir / ENVIRONMENT_FILE
    return f"{str(exp_dir).rstrip('/')}/{ENVIRONMENT_FILE}"


def record_start(exp_dir: Path, command: str) -> None:
    """Add a run entry (now, this machine, these nodes); describe the environment on the first run."""
    path = _location(exp_dir)
    data = _read(path)
    if not data:
        data = {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": {p: _version(p) for p in PACKAGES},
            "git": git_state(os.getcwd()),
            "working_directory": os.getcwd(),
            "runs": [],
        }
    data.setdefault("runs", []).append(
        {
            "command": command,
            "started": _now(),
            "ended": None,
            "outcome": None,
            "driver_host": socket.gethostname(),
            "nodes": ray_nodes(),
        }
    )
    data["started"] = data["runs"][0]["started"]
    _write(path, data)


def record_end(exp_dir: Path, outcome: str) -> None:
    """Close the latest run entry: `finished`, `interrupted` or `failed`."""
    path = _location(exp_dir)
    data = _read(path)
    if not data.get("runs"):
        return
    data["runs"][-1].update(ended=_now(), outcome=outcome)
    data["ended"] = data["runs"][-1]["ended"]
    try:
        _write(path, data)
    except OSError as exc:  # a full disk: the error that ended the run is the one to tell, not this one
        warnings.warn(f"could not record the end of this run in {ENVIRONMENT_FILE}: {exc}", stacklevel=2)


def record_baseline(exp_dir: Path, baseline: dict) -> None:
    """Note the sweep's baseline (tuning.driver.baseline.decide): its config, or why it has none."""
    path = _location(exp_dir)
    data = _read(path)
    data["baseline"] = baseline
    _write(path, data)


def record_ending(exp_dir, ending: dict) -> None:
    """Note on the latest run entry which budget or stop rule ended the sweep and what was spent
    (tuning.driver.budget); `tuning report` reads it back (tuning.report.ending)."""
    path = _location(exp_dir)
    data = _read(path)
    if data.get("runs"):
        data["runs"][-1]["ended_by"] = ending
        _write(path, data)


def recorded_runs(exp_dir) -> list[dict]:
    """The run entries recorded so far, oldest first (the latest is the run in progress)."""
    runs = _read(_location(exp_dir)).get("runs")
    return [run for run in runs if isinstance(run, dict)] if isinstance(runs, list) else []

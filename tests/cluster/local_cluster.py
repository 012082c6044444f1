"""A real two-node Ray cluster on this machine (loopback, token auth), stopped by the processes it started.

Each node runs in its own session (process group); stopping kills exactly the processes of those
sessions, never other Ray instances on the machine (no global `ray stop`).
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent  # ray and tuning of this venv


_ISSUED: set[int] = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, never handed out before by this process, and below Linux's
    ephemeral range (32768+), where the OS picks ports for connections and Ray for its workers. Between
    this check and `ray start` another process may still take it: LocalCluster.start retries once."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 32000)
        if port in _ISSUED:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ISSUED.add(port)
        return port


def _port_flags() -> list[str]:
    # Ray's fixed defaults (52365, 10001, ...) would collide with other Ray instances on this machine.
    flags = [
        "--node-manager-port",
        "--object-manager-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--runtime-env-agent-port",
        "--metrics-export-port",
    ]
    return [item for flag in flags for item in (flag, str(free_port()))]


class LocalCluster:
    """A head and one worker node, one CPU each (the worker with `worker_resources` too), listening on this
    machine, with token auth (or none)."""

    def __init__(self, root: Path, num_cpus: int = 1, auth: bool = True, worker_resources: dict | None = None):
        self.root, self.num_cpus = root, num_cpus
        self.worker_resources = worker_resources or {}  # custom Ray resources of the worker node alone
        # Ray's socket paths live under --temp-dir and must stay under 108 bytes: pytest's paths are too long.
        self.temp = Path(tempfile.mkdtemp(prefix="tuning-rc-"))
        self.token = uuid.uuid4().hex
        self.gcs_port, self.dashboard_port = free_port(), free_port()
        self.env = dict(
            os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"
        )
        if not auth:  # explicitly off: Ray turns token auth on by itself where ~/.ray/auth_token exists
            self.env.update(RAY_AUTH_MODE="disabled")
            self.env.pop("RAY_AUTH_TOKEN")
            self.token = None
        # Multi-node needs Ray's cluster mode; local sweeps turn it off with this variable.
        self.env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        self.procs: list[subprocess.Popen] = []

    @property
    def dashboard(self) -> str:
        """The address `tuning submit` talks to."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.root / f"{name}.log", "w")
        cmd = [
            str(BIN / "ray"),
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.num_cpus}",
            "--num-gpus=0",
            "--temp-dir",
            str(self.temp / name),
            "--disable-usage-stats",
            *_port_flags(),
            *args,
        ]
        self.procs.append(
            subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def start(self, timeout: float = 120, worker: bool = True) -> "LocalCluster":
        """Start the head, then the worker (unless not `worker`), and wait until the nodes are alive; once
        more on fresh ports if a `ray start` exits (a port taken since it was checked)."""
        try:
            return self._start_nodes(timeout, worker)
        except RuntimeError:
            self.stop()
            self.procs = []
            self.temp = Path(tempfile.mkdtemp(prefix="tuning-rc-"))
            self.gcs_port, self.dashboard_port = free_port(), free_port()
            return self._start_nodes(timeout, worker)

    def _start_nodes(self, timeout: float, worker: bool) -> "LocalCluster":
        self._start(
            "head",
            [
                "--head",
                "--port",
                str(self.gcs_port),
                "--dashboard-host=127.0.0.1",
                "--dashboard-port",
                str(self.dashboard_port),
                "--ray-client-server-port",
                str(free_port()),
            ],
        )
        self._wait(lambda: self._alive_nodes() >= 1, timeout, "head node")
        if not worker:
            return self
        custom = ["--resources", json.dumps(self.worker_resources)] if self.worker_resources else []
        self._start("worker", ["--address", f"127.0.0.1:{self.gcs_port}", *custom])
        self._wait(lambda: self._alive_nodes() >= 2, timeout, "worker node")
        return self

    def _alive_nodes(self) -> int:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {proc.returncode}; see {self.root}/*.log")
        result = subprocess.run(
            [str(BIN / "ray"), "status", "--address", f"127.0.0.1:{self.gcs_port}"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout.split("Pending:")[0].count(" node_") if result.returncode == 0 else 0

    @staticmethod
    def _wait(ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not come up in {timeout:g} s")
            time.sleep(1)

    def _members(self) -> list[psutil.Process]:
        sessions = {proc.pid for proc in self.procs}  # each `ray start` leads its own session
        members = []
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) in sessions:
                    members.append(proc)
            except (ProcessLookupError, psutil.Error):
                continue
        return members

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, every process of the sessions this cluster started; nothing else."""
        for proc in reversed(self.procs):
            with_suppress(lambda: os.killpg(proc.pid, signal.SIGTERM))
        _, alive = psutil.wait_procs(self._members(), timeout=15)
        for proc in alive:
            with_suppress(proc.kill)
        psutil.wait_procs(alive, timeout=5)
        for proc in self.procs:
            with_suppress(lambda: proc.wait(timeout=5))
        shutil.rmtree(self.temp, ignore_errors=True)


def with_suppress(action) -> None:
    """Run `action`, ignoring processes that are already gone."""
    try:
        action()
    except (ProcessLookupError, psutil.Error, subprocess.TimeoutExpired, OSError):
        pass

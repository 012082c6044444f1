"""Killing what a test or benchmark started, as a crash would: SIGKILL, no clean-up."""

import os
import signal
import subprocess

import psutil


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL `proc`'s process group and every process it started (Ray's own may have left the group)."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    proc.wait(timeout=30)

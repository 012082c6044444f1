"""`tuning.submit` and the Job it returns: a sweep as a Ray job on a cluster, as `tuning submit` runs it.

`submit` validates the sweep here first (bad input raises SweepError, nothing reaches the cluster), uploads the
project (likely secrets left out) and returns at once; the Job then answers what `tuning status`, `logs` and
`stop` answer. A cluster that fails a request raises tuning.driver.ClusterError (the CLI's exit 1). The checks
that come before any request are shared with the CLI's job verbs (upload_checks, job_address, job_experiment).
"""

import io
import os
import time
from pathlib import Path

from tuning.errors import UserError


class Job:
    """A sweep running as a Ray job: its status, logs and experiment; `wait` until it ends, `stop` it."""

    def __init__(self, job_id: str, address: str | None = None):
        """The job `job_id` (the id tuning.submit gave it) of the cluster whose dashboard is at `address`
        (default: $RAY_ADDRESS)."""
        from tuning.driver import jobs_api

        jobs_api.check_job_id(job_id)
        self.id, self.address = job_id, job_address(address)

    def status(self) -> str:
        """PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
        from tuning.driver import submit

        return str(submit.job_info(self.address, self.id).status.value)

    def logs(self) -> str:
        """The job's log so far (its driver's output: the sweep's progress lines and ranked table)."""
        from tuning.driver import submit

        out = io.StringIO()
        submit.logs(self.address, self.id, follow=False, out=out)
        return out.getvalue()

    def wait(self, timeout: float | None = None, poll_s: float = 2.0) -> str:
        """Block until the job has ended and return its status (SUCCEEDED, FAILED or STOPPED); TimeoutError after
        `timeout` seconds (the job goes on)."""
        from tuning.driver import submit

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = submit.job_info(self.address, self.id).status
            if status.is_terminal():
                return str(status.value)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id}: still {status.value} after {timeout} s")
            time.sleep(poll_s if deadline is None else max(0.0, min(poll_s, deadline - time.monotonic())))

    def stop(self) -> bool:
        """Ask the cluster to stop the job; False when it had already ended. Its experiment keeps its state."""
        from tuning.driver import submit

        return submit.stop(self.address, self.id)

    def experiment(self):
        """The job's experiment (tuning.load of the storage and name it was submitted with): it must be reachable
        from here, a shared path or a URI, and exist (the job's driver creates it as the sweep starts)."""
        from tuning.api.experiment import load
        from tuning.driver import submit

        location = job_experiment(submit.job_info(self.address, self.id))
        if location is None:
            raise UserError(f"job {self.id}: was not submitted by tuning: its metadata names no experiment")
        return load(location)

    def __repr__(self) -> str:
        return f"Job({self.id!r}, address={self.address!r})"


def submit(
    sweep,
    set=None,
    address: str | None = None,
    storage: str | None = None,
    name: str | None = None,
    working_dir=".",
    pip=(),
    requirements: str | None = None,
    include=(),
    job_id: str | None = None,
    max_upload_mib: float = 100,
) -> Job:
    """Submit a sweep file (or built-in sweep name) to a Ray cluster as a job, as `tuning submit` does; returns
    at once with the Job.

    `address`: the head's dashboard, http://HEAD:8265 (default: $RAY_ADDRESS); `storage`: a path on every node
    or a URI (default: run.storage, which must then be absolute or a URI); `working_dir`: the project uploaded
    with the job (its own classes travel); `pip`, `requirements`: packages the job installs; `include`:
    gitignore-style patterns uploaded although they look like secrets; the others as in tuning.run."""
    from tuning.api.sweep import overrides
    from tuning.driver import submit as jobs

    if not isinstance(sweep, (str, os.PathLike)):
        raise UserError(
            f"sweep: tuning.submit takes a sweep file or a built-in sweep name (the file travels with the job), "
            f"got {type(sweep).__name__}; write a dict sweep to a YAML file first"
        )
    address = job_address(address)
    includes = [include] if isinstance(include, str) else list(include)
    working = upload_checks(working_dir, includes, job_id)
    storage = None if storage is None else os.fspath(storage)
    cfg = jobs.resolve(os.fspath(sweep), overrides(set), storage, name, working)
    entries = jobs.read_requirements([pip] if isinstance(pip, str) else list(pip), requirements)
    return Job(jobs.submit(cfg, address, working, entries, max_upload_mib, includes, job_id), address)


def job_address(address: str | None) -> str:
    """The cluster's dashboard address given, else $RAY_ADDRESS; a SweepError naming --address when neither is."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise UserError("--address: required (or set RAY_ADDRESS), e.g. --address http://HEAD:8265")
    return address


def upload_checks(working_dir, includes, job_id: str | None) -> Path:
    """The project to upload as an absolute path, once the checks a job's upload makes before any request pass:
    it is a directory, the job id has a job id's shape, each --include pattern parses."""
    from tuning.driver import jobs_api, submit

    working = Path(working_dir).resolve()
    if not working.is_dir():
        raise UserError(f"--working-dir {working_dir}: not a directory")
    if job_id is not None:
        jobs_api.check_job_id(job_id, "--job-id")
    submit.check_includes(includes)
    return working


def job_experiment(info) -> str | None:
    """The experiment a job of `tuning submit` writes (from the job's metadata); None for other jobs."""
    from tuning.storage import experiment_location

    meta = info.metadata or {}
    if not (meta.get("tuning_storage") and meta.get("tuning_experiment")):
        return None
    try:
        return experiment_location(meta["tuning_storage"], meta["tuning_experiment"])
    except (ValueError, RuntimeError, OSError):  # a NUL, or `~user` of no one: shown as written, not resolved
        return f"{meta['tuning_storage']}/{meta['tuning_experiment']}"

"""`tuning.run`, `tuning.load` and the Experiment they return: the sweep verbs of the command line, from Python.

Each call means what its verb means: `run` is `tuning run` (blocks until the sweep ends; Ctrl-C stops it cleanly,
keeps its state and raises KeyboardInterrupt, as in a terminal), `Experiment.report` is `tuning report --format
json`, `resume` is `tuning resume`, `export` is `tuning export`. Bad input raises tuning.SweepError (a ValueError)
with the message the CLI prints for exit 2, before anything is written. A sweep whose trials errored returns its
experiment with a warning that says so, and `Experiment.errored` lists them (the CLI's exit 3).
"""

import os
import warnings

from tuning.api.report import Report, Trial, report_of
from tuning.api.sweep import sweep_config
from tuning.errors import UserError


class Experiment:
    """An experiment a sweep wrote: a directory, or a URI (s3://, gs://, ...). Reading it (report, errored, export)
    never imports a module it names nor unpickles a file in it; only `Trial.load_model` imports the model's class."""

    def __init__(self, location):
        """`location`: the experiment's directory or URI (tuning.load checks that it is one)."""
        location = os.fspath(location)
        self.location = location.rstrip("/") if "://" in location else os.path.abspath(os.path.expanduser(location))

    def report(self, scope: str | None = None, top: int | None = None, status=None) -> Report:
        """The ranked report, read afresh (a running sweep's so far): `tuning report --format json` as objects.

        `scope`: rank each trial by its best or its last epoch (default: the sweep's search.scope); `top`: the best
        K trials only; `status`: only trials with these statuses ("completed", "stopped_early", "errored",
        "running", "pending": a name, a comma-separated list or a list); ranks stay those among all trials."""
        return report_of(self.location, scope, top, status)

    @property
    def errored(self) -> list[Trial]:
        """The trials that errored, each with its last error line (`trial.error`); [] when none did."""
        return [t for t in self.report().trials if t.status == "errored"]

    def resume(self, more: int = 0, address: str | None = None, skip_errored: bool = False) -> "Experiment":
        """Continue the sweep as `tuning resume` does (blocks until it ends); returns this experiment.

        `more`: add that many trials, finished sweep or not (the optuna searcher goes on from its study);
        `skip_errored`: leave errored trials as they are instead of retrying them; `address`: a Ray cluster's
        address (HEAD:6379, ray://HEAD:10001 or auto) to run the resume's trials on."""
        if isinstance(more, bool) or not isinstance(more, int):
            raise UserError(f"--more: must be a whole number >= 1, got {more!r}")
        _check_ray_address(address, "resume")
        from tuning.driver import resume_sweep

        resume_sweep(self.location, address=address, retry_errored=not skip_errored, more=more)
        _say_errored(self)
        return self

    def export(self, rank: int = 1, output: str = "export", scope: str | None = None) -> list[str]:
        """Copy the checkpoint of the trial at `rank` into `output` (a new or empty directory) with its resolved
        Lightning config, as `tuning export` does; returns the paths written."""
        from tuning.report import export_trial

        return export_trial(self.location, rank, os.fspath(output), scope=scope)

    def __fspath__(self) -> str:
        return self.location

    def __eq__(self, other) -> bool:
        return isinstance(other, Experiment) and other.location == self.location

    def __hash__(self) -> int:
        return hash(self.location)

    def __repr__(self) -> str:
        return f"Experiment({self.location!r})"


def run(sweep="quickstart", set=None, storage=None, name: str | None = None, address: str | None = None) -> Experiment:
    """Run a sweep to its end, as `tuning run` does, and return its experiment.

    `sweep`: a sweep file, a built-in sweep name or a dict of the sweep file's shape; `set`: overrides by dotted
    key, `{"search.num_samples": 8}` as `--set search.num_samples=8`; `storage`, `name`: where the experiment goes
    (`<storage>/<name>`, default: run.storage and the sweep's name; a dict without a name is "sweep"); `address`:
    an existing Ray cluster (HEAD:6379, ray://HEAD:10001 or auto) instead of a local Ray.
    Raises SweepError on bad input (nothing written), KeyboardInterrupt on Ctrl-C (the state kept: `resume`)."""
    cfg = sweep_config(sweep, set, name)
    _check_ray_address(address, "run")
    from tuning.driver import run_sweep

    exp = Experiment(str(run_sweep(cfg, storage=None if storage is None else os.fspath(storage), address=address)))
    _say_errored(exp)
    return exp


def load(experiment) -> Experiment:
    """The experiment at a directory or a URI, checked to be one a sweep wrote; reads only, never unpickles."""
    from tuning.expdir import ExpDir

    exp = Experiment(experiment)
    ExpDir(exp.location, shallow=True).sweep()  # a SweepError naming it unless it holds a sweep tuning wrote
    return exp


def _check_ray_address(address: str | None, verb: str) -> None:
    """A dashboard URL is the Jobs API's address (tuning.submit), not a Ray address: said before anything runs."""
    if address is not None and address.split("://", 1)[0].lower() in ("http", "https"):
        raise UserError(
            f"--address {address}: the Ray dashboard's address (the Jobs API); tuning.{verb} takes the cluster's Ray "
            "address, HEAD:6379 or ray://HEAD:10001 (or `auto` on a node of it); to run a sweep as a job through the "
            "dashboard, use tuning.submit(SWEEP, address=...)"
        )


def _say_errored(exp: Experiment) -> None:
    """A warning naming the errored trials of a finished run, as the CLI's exit code 3 and its lines do."""
    report = exp.report()
    errored = [t for t in report.trials if t.status == "errored"]
    if errored:
        shown = "; ".join(f"trial {t.trial_id}: {t.error or 'no error file'}" for t in errored[:3])
        warnings.warn(
            f"{len(errored)} of {len(report.trials)} trials errored ({shown}{'; ...' if len(errored) > 3 else ''}); "
            "Experiment.errored lists them",
            stacklevel=3,
        )

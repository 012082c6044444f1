"""The Python API: the command line's verbs as functions and objects, for scripts and notebooks.

experiment: `run` (a sweep file, a built-in name or a dict), `load`, and the Experiment they return (report,
errored, resume, export); report: the ranked Report and its Trials (`to_pandas`, `best`, `Trial.load_model`);
model: `load_model`, the one place the API imports a class an experiment names; sweep: a dict sweep and `set=`
overrides as the CLI reads them; job: `submit` and the Job it returns. `tuning.run`, `tuning.load`,
`tuning.submit` and `tuning.SweepError` are these (tuning/__init__.py loads this module on first use). Nothing
here imports torch, Ray or pandas until a call needs it. The job checks are shared with the CLI's job verbs.
"""

from tuning.api.experiment import Experiment, load, run
from tuning.api.job import Job, job_address, job_experiment, submit, upload_checks
from tuning.api.report import Report, Trial
from tuning.errors import SweepError

__all__ = [
    "Experiment",
    "Job",
    "Report",
    "SweepError",
    "Trial",
    "job_address",
    "job_experiment",
    "load",
    "run",
    "submit",
    "upload_checks",
]

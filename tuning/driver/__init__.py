"""The driver side of a sweep: everything that runs in the `tuning run` / `resume` process.

tuner: check the sweep, start Ray, build and fit the Tuner; resume: continue an interrupted one; placement:
trial resources and what a cluster has room for; progress: the live view; trim: what the driver lets go of as
trials finish; environment: environment.json; warm_start: earlier experiments told to the searcher; baseline:
the base configuration, run as the first trial; confirm: rerun the best configs under new seeds; submit: the
sweep as a Ray job on a cluster; resume_job: a resume as a Ray job; study: the Optuna study of an experiment
on URI storage; uri_resume: the resume of one. The driver hands Tune the trial wing's trainable; it reads
results through the report wing.
"""

from tuning.driver import jobs_api, resume_job, staging, submit
from tuning.driver.confirm import confirmed, render_confirmed, run_confirm
from tuning.driver.jobs_api import ClusterError
from tuning.driver.tuner import expected_trials, resume_sweep, run_sweep

# jobs_api: the one client of a cluster's Jobs API; submit (and resume_job, its resume) is a module of verbs
# (resolve, dry_run, submit, list_jobs, job_info, logs, stop) for `tuning submit` and the job commands; the face
# exports it whole rather than nine names; staging: the job verbs end on SIGTERM as submit does.
__all__ = [
    "ClusterError",
    "confirmed",
    "expected_trials",
    "render_confirmed",
    "resume_job",
    "resume_sweep",
    "jobs_api",
    "run_confirm",
    "run_sweep",
    "staging",
    "submit",
]

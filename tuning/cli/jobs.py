"""The Ray Jobs subcommands of `tuning`: submit, jobs, status, logs, stop (parsing only; work in tuning.driver.submit).

Like commands.py, nothing here imports ray at import time. What the cluster says (job ids, entrypoints,
messages, metadata) is printed inert and every command shown for copying is shell-quoted (tuning.text).
"""

import contextlib
import shlex
import signal
import sys

from tuning.cli.args import add_sweep_args, experiment_name
from tuning.text import inert, inert_lines, shell_command

ADDRESS_HELP = "the head's dashboard address, e.g. http://HEAD:8265 (default: $RAY_ADDRESS)"
FINAL_OK = "SUCCEEDED"
ENDED_EARLY = ("STOPPED", "FAILED")  # a job whose experiment may be unfinished: its resume command is shown


def _address(args) -> str:
    from tuning.api import job_address  # shared with tuning.submit and tuning.Job

    return job_address(args.address)


def _cluster_errors(func):
    """A verb whose cluster failed the request (HTTP 5xx, no job agent) ends with one line and exit 1."""
    import functools

    @functools.wraps(func)
    def verb(args) -> int:
        from tuning.driver import ClusterError

        try:
            return func(args)
        except ClusterError as exc:
            print(f"tuning {args.command}: error: {inert_lines(exc)}", file=sys.stderr)
            return 1

    return verb


@_cluster_errors
def _submit(args) -> int:
    from tuning.api import upload_checks
    from tuning.driver import submit

    address = None if args.dry_run else _address(args)
    working_dir = upload_checks(args.working_dir, args.include, args.job_id)  # the checks tuning.submit makes
    cfg = submit.resolve(args.sweep, args.set, args.storage, args.name, working_dir)
    if args.dry_run:
        submit.dry_run(cfg, working_dir, args.include, args.max_upload_mib)
        return 0
    pip = submit.read_requirements(args.pip, args.requirements)
    job = []
    with _ending_signals(args.command, address, job):
        job.append(submit.submit(cfg, address, working_dir, pip, args.max_upload_mib, args.include, args.job_id))
        from tuning.storage import experiment_location

        exp = experiment_location(cfg.run.storage, cfg.name)
        print(f"submitted job {inert(job[0])}\n{_job_hints(job[0], address, exp, stop=True)}", flush=True)
        return _follow(args, address, job[0])


def _job_hints(job_id: str, address: str, exp: str, stop: bool = False) -> str:
    """The commands that follow, query (and stop) a submitted job, and its results, shell-quoted."""
    hints = [
        f"  follow:  {shell_command('tuning', 'logs', job_id, '--follow', '--address', address)}",
        f"  status:  {shell_command('tuning', 'status', job_id, '--address', address)}",
    ]
    if stop:
        hints.append(f"  stop:    {shell_command('tuning', 'stop', job_id, '--address', address)}")
    return "\n".join(hints + [f"  results: {inert(exp)} (then: {shell_command('tuning', 'report', exp)})"])


@contextlib.contextmanager
def _ending_signals(command: str, address: str, job: list):
    """SIGTERM or SIGHUP while the verb waits on the cluster ends it with 143 or 129 and one line, after every
    `finally` ran (the staged sweep is removed): what became of the job (`job`: [id] once submitted)."""
    from tuning.driver import staging

    try:
        with staging.exit_on_ending_signals():
            yield
    except SystemExit as exc:
        ending = {128 + signum: signum for signum in staging.ENDING}
        if exc.code not in ending:
            raise
        name = signal.Signals(ending[exc.code]).name
        if job:
            print(
                inert(f"tuning {command}: stopped by {name}; job {job[0]} goes on on the cluster; ")
                + f"stop it with: {shell_command('tuning', 'stop', job[0], '--address', address)}",
                file=sys.stderr,
            )
        else:
            print(
                f"tuning {command}: stopped by {name} while submitting; nothing is left in the project (whether "
                f"the cluster started the job: {shell_command('tuning', 'jobs', '--address', address)})",
                file=sys.stderr,
            )
        raise


def _follow(args, address: str, job_id: str) -> int:
    """With --follow, the job's logs until it ends (exit 0 when it succeeded, 1 otherwise); else 0."""
    from tuning.driver import submit

    if args.follow:
        status = submit.logs(address, job_id, follow=True)
        print(inert(f"job {job_id}: {status}"))
        return 0 if status == FINAL_OK else 1
    return 0


@_cluster_errors
def resume_job(args) -> int:
    """`tuning resume EXP --address http://HEAD:8265`: the resume as a job on the cluster (tuning.driver.resume_job)."""
    from tuning.api import upload_checks
    from tuning.driver import resume_job as rj
    from tuning.driver import submit

    working_dir = upload_checks(args.working_dir, args.include, args.job_id)
    flags = (("--skip-errored",) if args.skip_errored else ()) + (("--more", str(args.more)) if args.more else ())
    flags += _budget_flags(args.set)  # checked here: bad input never reaches the cluster
    pip = submit.read_requirements(args.pip, args.requirements)
    job = []
    with _ending_signals(args.command, args.address, job):
        job_id, exp = rj.submit_resume(
            args.experiment, args.address, working_dir, pip, args.max_upload_mib, args.include, args.job_id, flags
        )
        job.append(job_id)
        print(
            f"{inert(f'submitted job {job_id}, resuming {exp}')}\n{_job_hints(job_id, args.address, exp)}", flush=True
        )
        return _follow(args, args.address, job_id)


def _budget_flags(overrides: list[str]) -> tuple[str, ...]:
    """`--set KEY=VALUE` of a resume, shell-quoted for the job's command line; a UserError for a key a resume may not
    change (tuning.sweep.budget)."""
    from tuning.errors import UserError
    from tuning.sweep.budget import resume_override_problem

    for override in overrides:
        if resume_override_problem(override):
            raise UserError(resume_override_problem(override))
    return tuple(part for override in overrides for part in ("--set", shlex.quote(override)))


@_cluster_errors
def _jobs(args) -> int:
    from tuning.driver import submit

    address = _address(args)
    print("\n".join(jobs_lines(submit.list_jobs(address), address)))
    return 0


def jobs_lines(jobs, address: str) -> list[str]:
    """The lines of `tuning jobs` for the cluster's JobDetails: one per job, a resume command under each job
    whose experiment may be unfinished. What the cluster says is inert; the command is shell-quoted."""
    lines = [f"{'job':<40} {'status':<10} {'experiment':<40} entrypoint"]
    for job in jobs:
        experiment = _experiment(job)
        lines.append(
            f"{inert(job.submission_id or job.job_id):<40} {inert(job.status.value):<10} "
            f"{inert(experiment or '-'):<40} {inert(job.entrypoint)}"
        )
        if experiment and job.status.value in ENDED_EARLY:
            lines.append(f"  {'':<38} resume with: {_resume_command(experiment, address)}")
    return lines


def _resume_command(experiment: str, address: str) -> str:
    """The command that continues a job's experiment on the cluster (as a job of its own), shell-quoted."""
    return shell_command("tuning", "resume", experiment, "--address", address)


def _experiment(info) -> str | None:
    """The experiment a job of `tuning submit` writes (from the job's metadata); None for other jobs."""
    from tuning.api import job_experiment  # Job.experiment reads it the same way

    return job_experiment(info)


@_cluster_errors
def _status(args) -> int:
    from tuning.driver import submit

    address = _address(args)
    print("\n".join(status_lines(args.job, submit.job_info(address, args.job), address)))
    return 0


def status_lines(job_id: str, info, address: str) -> list[str]:
    """The lines of `tuning status` for a job's JobDetails: its status and message, its experiment with the
    commands that report (and, if it ended early, resume) it. What the cluster says is inert; commands quoted."""
    lines = [inert(f"job {job_id}: {info.status.value}")]
    if info.message:
        lines.append(inert_lines(info.message))
    experiment = _experiment(info)
    if experiment:
        lines.append(f"experiment: {inert(experiment)} ({shell_command('tuning', 'report', experiment)})")
        if info.status.value in ENDED_EARLY:
            # Its finished trials, checkpoints and study are in the storage (a path or a URI): resume them there.
            lines.append(
                f"continue with: {_resume_command(experiment, address)}\n"
                "  (or submit the same sweep again with the same storage: the new job continues this "
                "experiment)"
            )
    return lines


@_cluster_errors
def _logs(args) -> int:
    from tuning.driver import submit

    address = _address(args)
    with _ending_signals(args.command, address, [args.job]) if args.follow else contextlib.nullcontext():
        status = submit.logs(address, args.job, follow=args.follow)
    if args.follow:
        print(inert(f"job {args.job}: {status}"))
        return 0 if status == FINAL_OK else 1
    return 0


@_cluster_errors
def _stop(args) -> int:
    from tuning.driver import submit

    stopped = submit.stop(_address(args), args.job)
    print(inert(f"job {args.job}: ") + ("stop requested" if stopped else "had already finished"))
    return 0


def _add_submit(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="submit a sweep to a Ray cluster as a job",
        description="Validate the sweep here, then run it on a Ray cluster as a job; your project "
        "directory is uploaded so your own classes travel. Example: tuning submit "
        "my_sweep.yaml --address http://HEAD:8265 --storage s3://bucket/runs",
    )
    add_sweep_args(p, optional=False)
    p.add_argument("--address", help=ADDRESS_HELP)
    p.add_argument(
        "--storage",
        help="path on every node or URI (s3://, gs://) for the experiment "
        "(default: run.storage, which must then be absolute or a URI)",
    )
    p.add_argument("--name", type=experiment_name, help="experiment name (default: the sweep's name)")
    add_upload_args(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list every file the upload would carry and every "
        "file left out as a likely secret, then stop: no cluster is contacted, --address not needed",
    )
    p.set_defaults(func=_submit)


def add_upload_args(p) -> None:
    """The flags of a job that uploads the project: `submit`, and `resume --address http://...`."""
    p.add_argument("--working-dir", default=".", help="the project to upload (default: the current directory)")
    p.add_argument(
        "--pip",
        action="append",
        default=[],
        metavar="REQ",
        help="a pip requirement to install for the job (repeatable)",
    )
    p.add_argument("--requirements", help="a requirements.txt whose entries the job installs with pip")
    p.add_argument("--max-upload-mib", type=float, default=100, help="refuse larger uploads (default 100)")
    p.add_argument("--follow", action="store_true", help="print the job's logs until it ends; exit 0 on success")
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="upload files matching "
        "this gitignore-style pattern although they look like secrets (repeatable), e.g. "
        "--include .env.example",
    )
    p.add_argument(
        "--job-id",
        help="the job's submission id (default: tuning-<name>-<random>); a cluster refuses an id it already has",
    )


def _add_jobs(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="list the jobs of a Ray cluster",
        description="List the jobs of a Ray cluster. Example: tuning jobs --address http://HEAD:8265",
    )
    p.add_argument("--address", help=ADDRESS_HELP)
    p.set_defaults(func=_jobs)


def _job_verb(func, text: str, follow: bool = False):
    """The add-function of a verb on one job (status, logs, stop)."""

    def add(sub, name: str) -> None:
        p = sub.add_parser(
            name,
            help=text,
            description=f"{text[0].upper()}{text[1:]}. Example: tuning {name} JOB --address http://HEAD:8265",
        )
        p.add_argument("job", help="the job id that `tuning submit` printed")
        p.add_argument("--address", help=ADDRESS_HELP)
        if follow:
            p.add_argument(
                "--follow",
                action="store_true",
                help="keep printing until the job ends; exit 0 when it succeeded, 1 otherwise",
            )
        p.set_defaults(func=func)

    return add


# name -> the function that adds its parser (tuning.cli.commands lists every verb)
COMMANDS = {
    "submit": _add_submit,
    "jobs": _add_jobs,
    "status": _job_verb(_status, "a job's status"),
    "logs": _job_verb(_logs, "a job's logs", follow=True),
    "stop": _job_verb(_stop, "stop a job"),
}

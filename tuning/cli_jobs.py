"""The Ray Jobs subcommands of `tuning`: submit, jobs, status, logs, stop (parsing only; work in tuning.submit).

Like cli.py, nothing here imports ray at import time.
"""

import argparse
from pathlib import Path

ADDRESS_HELP = "the head's dashboard address, e.g. http://HEAD:8265 (default: $RAY_ADDRESS)"
FINAL_OK = "SUCCEEDED"


def _address(args) -> str:
    import os

    from tuning.errors import UserError

    address = args.address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise UserError("--address: required (or set RAY_ADDRESS), e.g. --address http://HEAD:8265")
    return address


def _submit(args) -> int:
    from tuning import submit
    from tuning.errors import UserError

    address, working_dir = _address(args), Path(args.working_dir).resolve()
    if not working_dir.is_dir():
        raise UserError(f"--working-dir {args.working_dir}: not a directory")
    cfg = submit.resolve(args.sweep, args.set, args.storage, args.name, working_dir)
    pip = submit.read_requirements(args.pip, args.requirements)
    job_id = submit.submit(cfg, address, working_dir, pip, args.max_upload_mib)
    exp = f"{cfg.run.storage.rstrip('/')}/{cfg.name}"
    print(f"submitted job {job_id}\n  follow:  tuning logs {job_id} --follow --address {address}\n"
          f"  status:  tuning status {job_id} --address {address}\n"
          f"  stop:    tuning stop {job_id} --address {address}\n"
          f"  results: {exp} (then: tuning report {exp})", flush=True)
    if args.follow:
        status = submit.logs(address, job_id, follow=True)
        print(f"job {job_id}: {status}")
        return 0 if status == FINAL_OK else 1
    return 0


def _jobs(args) -> int:
    from tuning import submit

    jobs = submit.list_jobs(_address(args))
    print(f"{'job':<40} {'status':<10} entrypoint")
    for job in jobs:
        print(f"{job.submission_id or job.job_id:<40} {job.status.value:<10} {job.entrypoint}")
    return 0


def _status(args) -> int:
    from tuning import submit

    info = submit.job_info(_address(args), args.job)
    print(f"job {args.job}: {info.status.value}")
    if info.message:
        print(info.message)
    return 0


def _logs(args) -> int:
    from tuning import submit

    status = submit.logs(_address(args), args.job, follow=args.follow)
    if args.follow:
        print(f"job {args.job}: {status}")
        return 0 if status == FINAL_OK else 1
    return 0


def _stop(args) -> int:
    from tuning import submit

    stopped = submit.stop(_address(args), args.job)
    print(f"job {args.job}: " + ("stop requested" if stopped else "had already finished"))
    return 0


def add_job_commands(sub, add_sweep_args) -> None:
    """Register submit, jobs, status, logs and stop on the `tuning` subparsers."""
    p = sub.add_parser("submit", help="submit a sweep to a Ray cluster as a job",
                       description="Validate the sweep here, then run it on a Ray cluster as a job; your project "
                                   "directory is uploaded so your own classes travel. Example: tuning submit "
                                   "my_sweep.yaml --address http://HEAD:8265 --storage s3://bucket/runs")
    add_sweep_args(p, optional=False)
    p.add_argument("--address", help=ADDRESS_HELP)
    p.add_argument("--storage", help="path on every node or URI (s3://, gs://) for the experiment "
                                     "(default: run.storage, which must then be absolute or a URI)")
    p.add_argument("--name", help="experiment name (default: the sweep's name)")
    p.add_argument("--working-dir", default=".", help="the project to upload (default: the current directory)")
    p.add_argument("--pip", action="append", default=[], metavar="REQ", help="a pip requirement to install "
                   "for the job (repeatable)")
    p.add_argument("--requirements", help="a requirements.txt whose entries the job installs with pip")
    p.add_argument("--max-upload-mib", type=float, default=100, help="refuse larger uploads (default 100)")
    p.add_argument("--follow", action="store_true", help="print the job's logs until it ends; exit 0 on success")
    p.set_defaults(func=_submit)

    p = sub.add_parser("jobs", help="list the jobs of a Ray cluster", description="List the jobs of a Ray "
                       "cluster. Example: tuning jobs --address http://HEAD:8265")
    p.add_argument("--address", help=ADDRESS_HELP)
    p.set_defaults(func=_jobs)
    for name, func, text in (("status", _status, "a job's status"), ("logs", _logs, "a job's logs"),
                             ("stop", _stop, "stop a job")):
        p = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}. Example: tuning {name} "
                           "JOB --address http://HEAD:8265", formatter_class=argparse.HelpFormatter)
        p.add_argument("job", help="the job id that `tuning submit` printed")
        p.add_argument("--address", help=ADDRESS_HELP)
        if name == "logs":
            p.add_argument("--follow", action="store_true", help="keep printing until the job ends; exit 0 "
                                                                 "when it succeeded, 1 otherwise")
        p.set_defaults(func=func)

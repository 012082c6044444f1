"""`tuning resume EXP --address http://HEAD:8265`: the resume runs as a Ray job on the cluster.

The project is uploaded exactly as `tuning submit` uploads it (the same excludes, secrets left out,
symlinks out of it not followed, the same token handling); the job runs `tuning resume EXP --address
auto` on the head, against the cluster, so the resume's driver lives where the sweep's did. Whether the
experiment can be resumed at all is checked here first: bad input never reaches the cluster.
"""

import shlex
import uuid
from pathlib import Path

from tuning.errors import UserError


def check_resumable(experiment: str) -> str:
    """The experiment's location as the cluster must see it (a URI, or an absolute path), checked to hold a
    sweep Ray Tune saved state for; a UserError naming what is wrong."""
    from tuning.expdir import ExpDir, has_snapshot
    from tuning.storage import is_uri

    if not is_uri(experiment) and not Path(experiment).expanduser().is_absolute():
        raise UserError(
            f"experiment {experiment}: a relative path means another directory on the cluster; give "
            "the absolute path every node mounts, or the URI (s3://bucket/runs/NAME)"
        )
    location = experiment.rstrip("/") if is_uri(experiment) else str(Path(experiment).expanduser())
    exp = ExpDir(location)
    if not exp.exists:
        raise UserError(f"experiment {location}: does not exist (from here; the cluster reads the same storage)")
    exp.sweep()  # a UserError unless tuning wrote it
    if not has_snapshot(exp):
        raise UserError(f"experiment {location}: Ray Tune saved no state before the run stopped; nothing to resume")
    return location


def submit_resume(
    experiment: str,
    address: str,
    working_dir: Path,
    pip: list[str],
    max_upload_mib: float,
    includes=(),
    job_id: str | None = None,
    flags: tuple[str, ...] = (),
) -> tuple[str, str]:
    """Start `tuning resume EXPERIMENT --address auto FLAGS` as a job; return (job id, experiment location)."""
    from tuning.driver import jobs_api, submit

    location = check_resumable(experiment)
    storage, name = location.rsplit("/", 1)
    upload = submit.plan_upload(working_dir, location, includes)
    submit.check_size(upload.files, max_upload_mib)
    job_id = job_id or f"tuning-resume-{name}-{uuid.uuid4().hex[:8]}"
    client = jobs_api.connect(address)
    print(f"uploading {submit.summary(upload, working_dir)} (tuning submit --dry-run lists them)", flush=True)
    runtime_env = {"working_dir": str(working_dir), "excludes": upload.excludes, **({"pip": list(pip)} if pip else {})}
    entrypoint = " ".join(["tuning", "resume", shlex.quote(location), "--address", "auto", *flags])
    job = jobs_api.call(
        client,
        address,
        client.submit_job,
        entrypoint=entrypoint,
        submission_id=job_id,
        runtime_env=runtime_env,
        metadata={"tuning_experiment": name, "tuning_storage": storage},
    )
    submit.warn_without_token(client, address)
    return job, location

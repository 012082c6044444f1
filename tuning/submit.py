"""Ray Jobs: submit a sweep to a cluster, list, follow, inspect and stop its jobs.

`submit` validates the sweep here first, so bad input never reaches the cluster. The job's
working_dir is the user's project (their own classes travel with it) minus `.git`, experiment and
checkpoint folders, `.env` files and whatever `.gitignore`/`.rayignore` ignore; the entrypoint runs
`tuning run` on the resolved sweep, uploaded with the project, against the cluster.
"""

import contextlib
import logging
import os
import sys
import uuid
from pathlib import Path

from tuning.errors import UserError

# Never uploaded: secrets, VCS history, environments, and results (which belong in run.storage).
DEFAULT_EXCLUDES = [".git/", ".env", ".env.*", ".venv/", "venv/", "__pycache__/", "runs/", "lightning_logs/",
                    "checkpoints/", "*.ckpt"]
MAX_UPLOAD_MIB = 100  # Ray's hard limit is about 500 MiB zipped; beyond ~100 MiB results were probably caught
TOKEN_HELP = ("give the cluster's token in RAY_AUTH_TOKEN, or a file named by RAY_AUTH_TOKEN_PATH, or "
              "~/.ray/auth_token (on the head node: `ray get-auth-token`)")


def auth_token() -> tuple[str | None, str]:
    """The Ray auth token and where it came from, in Ray's own order: env, token path, ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()
    if path.is_file():
        return path.read_text().strip(), str(path)
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        raise UserError(f"RAY_AUTH_TOKEN_PATH {path}: no such file; {TOKEN_HELP}")
    return None, "no token"


@contextlib.contextmanager
def talking_to(address: str, source: str):
    """Turn the job client's connection, auth and not-found failures into UserErrors (exit 2)."""
    from ray.exceptions import AuthenticationError

    try:
        yield
    except AuthenticationError as exc:
        first = str(exc).split("\n")[0]
        raise UserError(f"the Ray cluster at {address} refused the request ({first}); token from {source}. "
                        f"{TOKEN_HELP}") from None
    except ConnectionError as exc:
        raise UserError(f"cannot reach the Ray dashboard at {address}: {exc}; expected the head's dashboard "
                        "address, e.g. http://HEAD:8265 (is the cluster up, the port forwarded?)") from None
    except RuntimeError as exc:
        if "404" in str(exc) or "does not exist" in str(exc):
            raise UserError(f"{address}: {exc}") from None
        raise


def connect(address: str):
    """A JobSubmissionClient for `address` that sends the auth token, if there is one."""
    from ray.job_submission import JobSubmissionClient

    if not address.startswith(("http://", "https://")):
        raise UserError(f"--address {address}: expected the head's dashboard address, http://HEAD:8265")
    # Ray logs each packaging step at INFO; `submit` prints one line about the upload instead.
    logging.getLogger("ray").setLevel(logging.WARNING)
    token, source = auth_token()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with talking_to(address, source):
        client = JobSubmissionClient(address, headers=headers)
    client.tuning_source = source
    return client


def upload_excludes(working_dir: Path, storage: str) -> list[str]:
    """Exclude patterns for the upload: the defaults plus the sweep's storage when it lies inside the project."""
    excludes = list(DEFAULT_EXCLUDES)
    if "://" not in storage:
        target = (working_dir / storage).resolve()
        if target.is_relative_to(working_dir.resolve()) and target != working_dir.resolve():
            excludes.append("/" + target.relative_to(working_dir.resolve()).as_posix() + "/")
    return excludes


def _ignores(directory: Path):
    """The patterns of `.gitignore` and `.rayignore` in `directory`, as Ray reads them for the upload."""
    import pathspec

    lines = []
    for name in (".gitignore", ".rayignore"):
        if (directory / name).is_file():
            lines += (directory / name).read_text().splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def package_files(working_dir: Path, excludes: list[str]) -> dict[str, int]:
    """relative path -> size of every file Ray will upload (same rules: excludes + nested ignore files)."""
    import pathspec

    def rel(path: Path, base: Path) -> str:
        return path.relative_to(base).as_posix() + ("/" if path.is_dir() else "")

    specs = [(working_dir, pathspec.GitIgnoreSpec.from_lines(excludes))]
    files, stack = {}, [(working_dir, specs)]
    while stack:
        directory, specs = stack.pop()
        own = _ignores(directory)  # an ignore file applies below its own directory, as in git and Ray
        specs = specs + [(directory, own)] if own else specs
        for path in directory.iterdir():
            if any(spec.match_file(rel(path, base)) for base, spec in specs):
                continue
            if path.is_dir() and not path.is_symlink():
                stack.append((path, specs))
            elif path.is_file():
                files[rel(path, working_dir)] = path.stat().st_size
    return files


def check_size(files: dict[str, int], limit_mib: float) -> None:
    """UserError listing the biggest files when the upload is over `limit_mib`."""
    total = sum(files.values())
    if total <= limit_mib * 2**20:
        return
    biggest = sorted(files.items(), key=lambda item: -item[1])[:5]
    listing = ", ".join(f"{path} ({size / 2**20:.1f} MiB)" for path, size in biggest)
    raise UserError(f"--working-dir: the upload would be {total / 2**20:.1f} MiB (limit {limit_mib:g} MiB, "
                    f"--max-upload-mib); biggest: {listing}. Add them to .gitignore or .rayignore, keep data "
                    "in storage every node reaches, or raise the limit")


def _cluster_storage(cfg, storage: str | None) -> str:
    """run.storage as every node must see it: an absolute path or a URI, never relative to the job's temp dir."""
    value = storage or cfg.run.storage
    if "://" in value or Path(value).expanduser().is_absolute():
        return value if "://" in value else str(Path(value).expanduser())
    raise UserError(f"run.storage {value!r} is relative: on a cluster it would land in the job's temporary "
                    "directory and be lost; pass --storage with a path mounted on every node "
                    "(e.g. /mnt/shared/runs) or a URI (s3://bucket/runs, gs://bucket/runs)")


def resolve(source: str, overrides: list[str], storage: str | None, name: str | None, working_dir: Path):
    """The sweep, validated here (classes imported from `working_dir`), with cluster storage and name set."""
    from tuning.classes import check_classes
    from tuning.config import load_sweep, parse_sweep
    from tuning.placement import trial_bundle

    data = load_sweep(source, overrides).to_dict()
    data["name"] = name or data["name"]
    data["run"]["storage"] = _cluster_storage(load_sweep(source, overrides), storage)
    cfg = parse_sweep(data, origin=f"{source} (with --name/--storage)")
    sys.path.insert(0, str(working_dir))
    try:
        check_classes(cfg)
    finally:
        sys.path.remove(str(working_dir))
    trial_bundle(cfg.resources)
    return cfg


def submit(cfg, address: str, working_dir: Path, pip: list[str], max_upload_mib: float = MAX_UPLOAD_MIB) -> str:
    """Upload the project with the resolved sweep and start `tuning run` on the cluster; returns the job id."""
    import yaml

    job_id = f"tuning-{cfg.name}-{uuid.uuid4().hex[:8]}"
    sweep_file = f".tuning-job-{job_id}.yaml"
    excludes = upload_excludes(working_dir, cfg.run.storage)
    runtime_env = {"working_dir": str(working_dir), "excludes": excludes, **({"pip": list(pip)} if pip else {})}
    staged = working_dir / sweep_file
    try:
        staged.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    except OSError as exc:
        raise UserError(f"--working-dir {working_dir}: cannot stage the sweep file there: {exc.strerror}") from None
    try:
        files = package_files(working_dir, excludes)
        check_size(files, max_upload_mib)
        if sweep_file not in files:
            raise UserError(f"--working-dir {working_dir}: its .gitignore/.rayignore excludes {sweep_file}, "
                            "which carries the sweep to the cluster; un-ignore `.tuning-job-*.yaml`")
        client = connect(address)
        print(f"uploading {len(files)} files ({sum(files.values()) / 2**20:.2f} MiB) from {working_dir}", flush=True)
        with talking_to(address, client.tuning_source):
            return client.submit_job(entrypoint=f"tuning run {sweep_file} --address auto", submission_id=job_id,
                                     runtime_env=runtime_env, metadata={"tuning_experiment": cfg.name,
                                                                        "tuning_storage": cfg.run.storage})
    finally:
        staged.unlink(missing_ok=True)


def read_requirements(pip: list[str], requirements: str | None) -> list[str]:
    """--pip entries plus the lines of a requirements file (comments and blanks dropped)."""
    entries = list(pip)
    if requirements:
        try:
            lines = Path(requirements).read_text().splitlines()
        except OSError as exc:
            raise UserError(f"--requirements {requirements}: cannot read: {exc.strerror}") from None
        entries += [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return entries


def list_jobs(address: str) -> list:
    """Every job the cluster knows, oldest first."""
    client = connect(address)
    with talking_to(address, client.tuning_source):
        return sorted(client.list_jobs(), key=lambda job: job.start_time or 0)


def job_info(address: str, job_id: str):
    """A job's JobDetails (status, message, entrypoint, times)."""
    client = connect(address)
    with talking_to(address, client.tuning_source):
        return client.get_job_info(job_id)


def stop(address: str, job_id: str) -> bool:
    """Ask the cluster to stop a job; False when it had already finished."""
    client = connect(address)
    with talking_to(address, client.tuning_source):
        return client.stop_job(job_id)


def logs(address: str, job_id: str, follow: bool, out=sys.stdout) -> str:
    """Print a job's logs (following them until the job ends with `follow`); returns its status."""
    import asyncio

    client = connect(address)
    with talking_to(address, client.tuning_source):
        if not follow:
            out.write(client.get_job_logs(job_id))
        else:
            async def tail():
                async for lines in client.tail_job_logs(job_id):
                    out.write(lines)
                    out.flush()
            asyncio.run(tail())
        return str(client.get_job_status(job_id).value)

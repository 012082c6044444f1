"""Ray Jobs: submit a sweep to a cluster, list, follow, inspect and stop its jobs.

`submit` validates the sweep here first, so bad input never reaches the cluster. The job's
working_dir is the user's project (their own classes travel with it) minus `.git`, experiment and
checkpoint folders, likely secrets (by name, content or identity: tuning.driver.secret_scan), symlinks that
lead out of the project, and whatever `.gitignore`/`.rayignore` ignore; the entrypoint runs
`tuning run` on the resolved sweep, uploaded with the project, against the cluster. Every request to the
cluster goes through tuning.driver.jobs_api.
"""

import dataclasses
import logging
import re
import shlex
import sys
import uuid
from pathlib import Path

from tuning.driver import secret_scan, staging
from tuning.driver.jobs_api import call, check_job_id, connect
from tuning.errors import UserError
from tuning.text import inert

# Never uploaded: likely secrets. Basenames only (an optional trailing "/" for directories), so each
# pattern means the same at any depth to Ray's gitignore-style `excludes` and to rsync's --exclude
# (the launcher configs' rsync_exclude carry this list: tests/cluster/test_manifests.py).
SECRET_PATTERNS = [
    # SSH, TLS and signing keys
    ".ssh/",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    "*.ppk",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.keytab",
    ".gnupg/",
    "*.gpg",
    "secring.*",
    "*.kdbx",
    # cloud, cluster, registry and package-index credentials and tokens
    ".aws/",
    ".azure/",
    "gcloud/",
    "application_default_credentials.json",
    "credentials.json",
    "service-account*.json",
    "client_secret*.json",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".docker/",
    ".kube/",
    "kubeconfig",
    "*.kubeconfig",
    ".ray/",
    ".pgpass",
    ".htpasswd",
    "*.tfstate",
    "*.tfstate.backup",
    # environment files
    ".env",
    ".env.*",
    ".envrc",
]
# Never uploaded either: VCS history, environments, and results (which belong in run.storage).
OTHER_EXCLUDES = [".git/", ".venv/", "venv/", "__pycache__/", "runs/", "lightning_logs/", "checkpoints/", "*.ckpt"]
DEFAULT_EXCLUDES = OTHER_EXCLUDES + SECRET_PATTERNS
MAX_UPLOAD_MIB = 100  # Ray's hard limit is about 500 MiB zipped; beyond ~100 MiB results were probably caught


def _literal(rel: str) -> str:
    """A gitignore-style pattern that matches the path `rel` (relative to the project) and no other name,
    except that control characters and trailing blanks, which Ray's pattern parser drops, match any one."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", rel)
    escaped = re.sub(r"[\x00-\x1f\x7f]", "?", escaped)
    blanks = len(escaped) - len(escaped.rstrip())
    return "/" + escaped[: len(escaped) - blanks] + "?" * blanks


def check_includes(includes) -> None:
    """UserError naming the first --include that Ray's pattern parser fails on (it raises IndexError on `!`,
    which '' becomes) or reads as no pattern at all (a blank, a `#` comment, a lone `/`)."""

    from tuning.compat import ray as ray_compat

    for pattern in includes:
        specs, problem = [], "empty" if not pattern.strip() else None
        try:  # each becomes `!PATTERN` in the excludes, and is matched as PATTERN itself
            specs = [ray_compat.gitwildmatch([line]) for line in (pattern, f"!{pattern}")]
        except (IndexError, ValueError, TypeError, re.error) as exc:
            problem = problem or f"not a gitignore-style pattern ({type(exc).__name__})"
        if problem is None and any(not spec.patterns or spec.patterns[0].regex is None for spec in specs):
            problem = "matches nothing (blank, or a comment or a lone '/' in gitignore syntax)"
        if problem:
            raise UserError(
                f"--include {pattern!r}: {problem}; give a gitignore-style pattern of the files to upload "
                "on purpose, e.g. --include .env.example or --include 'certs/*.pem'"
            )


def upload_excludes(working_dir: Path, storage: str, includes=(), skipped=()) -> list[str]:
    """runtime_env `excludes` for the upload: the defaults, `!PATTERN` for each re-included pattern, the
    sweep's storage when it lies inside the project, and the paths of symlinks that must not be followed."""
    excludes = list(DEFAULT_EXCLUDES) + [f"!{pattern}" for pattern in includes]
    if "://" not in storage:
        target = (working_dir / storage).resolve()
        if target.is_relative_to(working_dir.resolve()) and target != working_dir.resolve():
            excludes.append("/" + target.relative_to(working_dir.resolve()).as_posix() + "/")
    return excludes + [_literal(rel) for rel in skipped]


def _ray_walk(working_dir: Path, excludes: list[str], watch=None) -> dict[str, int]:
    """relative path -> size of every file Ray's packaging zips from `working_dir` with these `excludes`.

    Ray's own traversal (tuning.compat.ray.ray_dir_walk; nested .gitignore/.rayignore included, Ray's
    default excludes in front): what is listed is what is zipped (tests/tuning/driver/test_submit.py compares
    it with the zip Ray makes). `watch(path)` is called like an exclude on every path not excluded
    otherwise; True leaves the path out.
    """

    from tuning.compat import ray as ray_compat

    root, files = working_dir.absolute(), {}

    def handler(path: Path):
        if path.is_file():
            files[path.relative_to(root).as_posix()] = path.stat().st_size

    quiet = logging.getLogger("tuning.driver.submit.walk")
    quiet.setLevel(logging.WARNING)  # Ray logs every ignore file it reads at INFO
    ray_compat.ray_dir_walk(root, excludes, watch, handler, logger=quiet)
    return files


def package_files(working_dir: Path, excludes: list[str]) -> dict[str, int]:
    """relative path -> size of every file Ray will upload with these `excludes` (see _ray_walk)."""
    return _ray_walk(working_dir, excludes)


@dataclasses.dataclass
class Upload:
    """What `tuning submit` sends: files (path -> size), what it leaves out, the runtime_env excludes."""

    files: dict[str, int]
    secrets: dict[str, str]  # left out as likely secrets (files, and symlinks to them): path -> why
    skipped: dict[str, str]  # symlinks not followed: path -> target (outside the project, or a loop)
    excludes: list[str]
    reincluded: dict[str, str] = dataclasses.field(default_factory=dict)  # uploaded on purpose: path -> why
    unscanned: dict[str, int] = dataclasses.field(default_factory=dict)  # too big to scan, names only: path -> size


def plan_upload(working_dir: Path, storage: str, includes=(), quiet: bool = False) -> Upload:
    """The files Ray will zip for the job, the likely secrets left out and the symlinks not followed; each
    file re-included on purpose with `includes` is said on stderr (unless `quiet`)."""
    check_includes(includes)
    root, secret_links, skipped = working_dir.absolute(), {}, {}
    names = secret_scan.NameMatcher(SECRET_PATTERNS + secret_scan.MORE_SECRET_PATTERNS)
    others = [p for p in upload_excludes(root, storage) if p not in SECRET_PATTERNS]
    candidates = _ray_walk(root, others, secret_scan.link_watch(root, names, includes, secret_links, skipped))
    verdicts = secret_scan.classify(root, candidates, names, includes)
    secrets = {**verdicts.left_out, **secret_links}
    excludes = upload_excludes(root, storage, includes, [*skipped, *secrets])
    files = _ray_walk(root, excludes)
    leaked = [rel for rel in files if rel in secrets or not (root / rel).resolve().is_relative_to(root.resolve())]
    if leaked:  # cannot happen: each is excluded by its exact path; never send one if it does
        raise RuntimeError(f"upload would carry likely secrets or links out of {root}: {leaked}")
    for rel in set(candidates) - set(files) - set(secrets):  # Ray's copy of SECRET_PATTERNS left it out
        secrets[rel] = "name (the secret patterns)"
    upload = Upload(files, dict(sorted(secrets.items())), skipped, excludes, verdicts.reincluded, verdicts.unscanned)
    if not quiet:
        for rel, why in sorted(upload.reincluded.items()):
            print(inert(f"note: uploading {rel} on purpose, though it looks like a secret ({why})"), file=sys.stderr)
    return upload


def summary(upload: Upload, working_dir: Path) -> str:
    """`5 files (0.01 MiB) from DIR; 8 left out as likely secrets, 1 symlink(s) not followed (secrets: 6 by
    name, 1 by content (Private Key 1), 1 another name for one); 1 re-included with --include`."""
    size = sum(upload.files.values()) / 2**20
    links = f", {len(upload.skipped)} symlink(s) not followed" if upload.skipped else ""
    why = f" (secrets: {secret_scan.reasons(upload.secrets)})" if upload.secrets else ""
    extra = f"; {len(upload.reincluded)} re-included with --include" if upload.reincluded else ""
    if upload.unscanned:
        extra += (
            f"; {len(upload.unscanned)} over {secret_scan.MAX_SCAN_BYTES / 2**20:g} MiB checked by name "
            "and for private keys and tokens only"
        )
    return (
        f"{len(upload.files)} files ({size:.2f} MiB) from {working_dir}; "
        f"{len(upload.secrets)} left out as likely secrets{links}{why}{extra}"
    )


def check_size(files: dict[str, int], limit_mib: float) -> None:
    """UserError listing the biggest files when the upload is over `limit_mib`."""
    total = sum(files.values())
    if total <= limit_mib * 2**20:
        return
    biggest = sorted(files.items(), key=lambda item: -item[1])[:5]
    listing = ", ".join(f"{path} ({size / 2**20:.1f} MiB)" for path, size in biggest)
    raise UserError(
        f"--working-dir: the upload would be {total / 2**20:.1f} MiB (limit {limit_mib:g} MiB, "
        f"--max-upload-mib); biggest: {listing}. Add them to .gitignore or .rayignore, keep data "
        "in storage every node reaches, or raise the limit"
    )


def _cluster_storage(cfg, storage: str | None) -> str:
    """run.storage as every node must see it: an absolute path or a URI, never relative to the job's temp dir."""
    value = storage or cfg.run.storage
    if "://" in value or Path(value).expanduser().is_absolute():
        return value if "://" in value else str(Path(value).expanduser())
    raise UserError(
        f"run.storage {value!r} is relative: on a cluster it would land in the job's temporary "
        "directory and be lost; pass --storage with a path mounted on every node "
        "(e.g. /mnt/shared/runs) or a URI (s3://bucket/runs, gs://bucket/runs)"
    )


def resolve(source: str, overrides: list[str], storage: str | None, name: str | None, working_dir: Path):
    """The sweep, validated here (classes imported from `working_dir`), with cluster storage and name set."""
    from tuning.driver.placement import trial_bundle
    from tuning.sweep.classes import check_classes
    from tuning.sweep.config import load_sweep, parse_sweep

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


def _sweep_text(cfg) -> bytes:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode()


def _checked_upload(
    working_dir: Path, storage: str, includes, sweep_file: str, max_upload_mib: float, quiet: bool = False
) -> Upload:
    upload = plan_upload(working_dir, storage, includes, quiet)
    check_size(upload.files, max_upload_mib)
    if sweep_file in upload.secrets:
        raise UserError(
            f"the sweep itself looks like it holds a secret ({upload.secrets[sweep_file]}); keep secrets "
            "out of sweep files (e.g. read them from the environment on the cluster), or send it on "
            "purpose with --include '.tuning-job-*.yaml'"
        )
    if sweep_file not in upload.files:
        raise UserError(
            f"--working-dir {working_dir}: its .gitignore/.rayignore excludes {sweep_file}, "
            "which carries the sweep to the cluster; un-ignore `.tuning-job-*.yaml`"
        )
    return upload


def _listing(upload: Upload) -> list[str]:
    """The dry run's lines: each file uploaded, each left out and why, each link not followed."""
    limit = f"{secret_scan.MAX_SCAN_BYTES / 2**20:g} MiB"
    # file names are the user's and may hold control characters: every line is made inert (tuning.text)
    lines = [f"upload  {rel}" for rel in sorted(upload.files)]
    lines += [f"secret  {rel}  ({why})" for rel, why in upload.secrets.items()]
    lines += [
        f"include {rel}  (uploaded on purpose, though it looks like a secret: {why})"
        for rel, why in sorted(upload.reincluded.items())
    ]
    lines += [
        f"big     {rel}  ({size / 2**20:.1f} MiB: over {limit}, checked by name and for private keys and tokens only)"
        for rel, size in sorted(upload.unscanned.items())
    ]
    lines += [
        f"skip    {rel} -> {target} (symlink out of the project or a loop: not followed)"
        for rel, target in sorted(upload.skipped.items())
    ]
    return [inert(line) for line in lines]


def dry_run(cfg, working_dir: Path, includes=(), max_upload_mib: float = MAX_UPLOAD_MIB, out=sys.stdout) -> Upload:
    """Print every file the upload would carry, everything left out as a secret and why, every file
    re-included on purpose and every file too big to scan by content; contacts no cluster."""
    with staging.staged(working_dir, f".tuning-job-tuning-{cfg.name}-dry-run", _sweep_text(cfg)) as sweep_file:
        upload = _checked_upload(working_dir, cfg.run.storage, includes, sweep_file, max_upload_mib, quiet=True)
    hint = "; re-include a file on purpose with --include PATTERN" if upload.secrets else ""
    out.write(
        "\n".join(_listing(upload)) + f"\nwould upload {summary(upload, working_dir)}{hint}; "
        f"dry run: nothing was sent\n"
    )
    return upload


def submit(
    cfg,
    address: str,
    working_dir: Path,
    pip: list[str],
    max_upload_mib: float = MAX_UPLOAD_MIB,
    includes=(),
    job_id: str | None = None,
) -> str:
    """Upload the project with the resolved sweep and start `tuning run` on the cluster; returns the job id."""
    job_id = job_id or f"tuning-{cfg.name}-{uuid.uuid4().hex[:8]}"
    with staging.staged(working_dir, f".tuning-job-{job_id}", _sweep_text(cfg)) as sweep_file:
        upload = _checked_upload(working_dir, cfg.run.storage, includes, sweep_file, max_upload_mib)
        client = connect(address)
        print(f"uploading {summary(upload, working_dir)} (tuning submit --dry-run lists them)", flush=True)
        runtime_env = {
            "working_dir": str(working_dir),
            "excludes": upload.excludes,
            **({"pip": list(pip)} if pip else {}),
        }
        # --resume-existing: a job the cluster restarts (same entrypoint) continues its experiment.
        entrypoint = f"tuning run {shlex.quote(sweep_file)} --address auto --resume-existing"
        job = call(
            client,
            address,
            client.submit_job,
            entrypoint=entrypoint,
            submission_id=job_id,
            runtime_env=runtime_env,
            metadata={"tuning_experiment": cfg.name, "tuning_storage": cfg.run.storage},
        )
    warn_without_token(client, address)
    return job


def warn_without_token(client, address: str) -> None:
    """Say so when the cluster accepted a job without any token: it has no authentication."""
    if client.tuning_token is None:
        print(
            f"warning: the cluster at {address} accepted this job without a token: it has no authentication, "
            "so anyone who reaches that address can run code on it; start it with RAY_AUTH_MODE=token "
            "(cluster/README.md)",
            file=sys.stderr,
            flush=True,
        )


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
    return sorted(call(client, address, client.list_jobs), key=lambda job: job.start_time or 0)


def job_info(address: str, job_id: str):
    """A job's JobDetails (status, message, entrypoint, times)."""
    check_job_id(job_id)
    client = connect(address)
    return call(client, address, client.get_job_info, job_id)


def stop(address: str, job_id: str) -> bool:
    """Ask the cluster to stop a job; False when it had already finished."""
    check_job_id(job_id)
    client = connect(address)
    return call(client, address, client.stop_job, job_id)


def logs(address: str, job_id: str, follow: bool, out=sys.stdout) -> str:
    """Print a job's logs (following them until the job ends with `follow`); returns its status."""
    import asyncio

    check_job_id(job_id)
    client = connect(address)
    if not follow:
        out.write(call(client, address, client.get_job_logs, job_id))
    else:
        call(client, address, client.get_job_info, job_id)  # an unknown job: a message, not a websocket's failure

        async def tail():
            async for lines in client.tail_job_logs(job_id):
                out.write(lines)
                out.flush()

        call(client, address, lambda: asyncio.run(tail()))
    return str(call(client, address, client.get_job_status, job_id).value)

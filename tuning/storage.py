"""Where experiments live: a local or shared path, or a URI (`s3://`, `gs://`, ...) every node reaches.

Paths go through the local filesystem; URIs through pyarrow's filesystems, the same layer Ray Tune
uses for `storage_path`. `check_nodes` proves, before any trial starts, that every node of the
cluster can write to the storage and read what the driver wrote there.
"""

import atexit
import posixpath
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path

from tuning.errors import UserError

PREFLIGHT_DIR = ".tuning-preflight"  # markers of the node check, removed afterwards
NODE_CHECK_TIMEOUT_S = 300.0  # generous: a node may first have to set up the job's runtime environment


def is_uri(storage: str) -> bool:
    """True for `scheme://...` storage (s3, gs, file, ...), False for a plain path."""
    return "://" in str(storage)


def experiment_location(storage: str, name: str) -> str:
    """`<storage>/<name>`: a URI stays a URI; a path becomes absolute."""
    if is_uri(storage):
        return storage.rstrip("/") + "/" + name
    return str((Path(storage).expanduser() / name).resolve())


def _fs(location: str):
    """(pyarrow filesystem, path inside it) for a path or URI."""
    from pyarrow import fs

    if not is_uri(location):
        return fs.LocalFileSystem(), location
    try:
        return fs.FileSystem.from_uri(location)
    except (ValueError, OSError) as exc:
        raise UserError(f"run.storage {location}: not a storage URI this machine can open: {exc}") from None


def local_path(location: str) -> str | None:
    """The path on this machine of a local directory or `file://` URI; None for a remote store (s3://, gs://)."""
    from pyarrow import fs

    filesystem, path = _fs(location)
    return path if isinstance(filesystem, fs.LocalFileSystem) else None


def is_nonempty(location: str) -> bool:
    """Whether `location` exists and holds anything."""
    from pyarrow import fs

    filesystem, path = _fs(location)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        return False
    if info.type != fs.FileType.Directory:
        return True
    return bool(filesystem.get_file_info(fs.FileSelector(path, recursive=False)))


def check_writable(location: str, what: str) -> None:
    """UserError naming `what` unless a local `location` can be created and written (nothing is created)."""
    import os

    if is_uri(location):
        return  # checked where it is written: object stores have no permissions to read ahead
    path = Path(location)
    for parent in [path, *path.parents]:
        if parent.exists():
            break
    if not parent.is_dir():
        raise UserError(f"{what}: {parent} is a file, not a directory; choose another")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{what}: {parent} is not writable by you; choose another")


def check_output(output: str, experiment: str, force: bool = False, kind: str = "file") -> Path:
    """The path `--output` names, refused (UserError) inside the experiment it is made from, over an existing
    file without `force`, at a symbolic link, or where it cannot be written. Nothing is created."""
    out = Path(output).expanduser()
    resolved, exp = out.resolve(), Path(experiment).expanduser().resolve()
    if not is_uri(experiment) and (resolved == exp or exp in resolved.parents):
        raise UserError(
            f"--output {out}: inside the experiment {exp}; its files are the experiment's own, "
            "write elsewhere (nothing was written)"
        )
    if out.is_symlink():  # dangling or not: writing would follow it to where the link points, not where named
        raise UserError(f"--output {out}: is a symbolic link; name the {kind} itself (nothing was written)")
    if kind == "file" and out.is_dir():
        raise UserError(f"--output {out}: is a directory; name a file")
    if kind == "file" and out.exists() and not force:
        raise UserError(f"--output {out}: exists; add --force to overwrite it (nothing was written)")
    check_writable(str(resolved.parent), f"--output {out}")
    return out


def claim(location: str, text: str) -> None:
    """Write the experiment's first file, `location`, only if it does not exist yet: of two runs started with
    the same name at the same moment, exactly one proceeds (locally; an object store has no exclusive create).
    Locally it appears whole or not at all."""
    if is_uri(location):
        return write_text(location, text)
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not create_whole(path, text):
        raise UserError(
            f"experiment directory {path.parent} was just taken by another run; choose another with "
            "--name or --storage (nothing was overwritten)"
        )


def create_whole(path: Path, text: str) -> bool:
    """Write the local file `path` only if it does not exist, whole or not at all; whether it was written.

    Written beside it, then hard-linked in place, exclusive and whole at once: a stop (Ctrl-C, SIGTERM) as it is
    written leaves no half a file, and of two writers exactly one succeeds."""
    import os

    staged = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.new")
    try:
        with open(staged, "x", encoding="utf-8") as out:
            out.write(text)
        os.link(staged, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links: an exclusive create, then the content
        try:
            with open(path, "x", encoding="utf-8") as out:
                out.write(text)
            return True
        except FileExistsError:
            return False
    finally:
        staged.unlink(missing_ok=True)


def write_text(location: str, text: str) -> None:
    """Write a small text file at `location` (its directory is created)."""
    filesystem, path = _fs(location)
    filesystem.create_dir(posixpath.dirname(path), recursive=True)
    with filesystem.open_output_stream(path) as out:
        out.write(text.encode())


def upload_file(local: Path, location: str) -> None:
    """Copy the local file `local` to `location` whole: written beside it, then moved over it, so a reader (or
    a crash) meets the old file or the new one, never half of one (a rename here, one put on object stores)."""
    from pyarrow import fs

    filesystem, path = _fs(location)
    filesystem.create_dir(posixpath.dirname(path), recursive=True)
    staged = f"{posixpath.dirname(path)}/.{posixpath.basename(path)}.upload"
    fs.copy_files(str(local), staged, source_filesystem=fs.LocalFileSystem(), destination_filesystem=filesystem)
    filesystem.move(staged, path)


def download_file(location: str, local: Path, limit: int | None = None) -> bool:
    """Copy the file at `location` to the local path `local` (whole: a temporary name, then a rename); False
    when there is no such file. Read as open_file reads it (a regular file, at most `limit` bytes: by default
    tuning.expdir.MAX_EXPERIMENT_BYTES, what a reader takes of a whole experiment); a UserError naming it
    otherwise, with nothing left at `local`."""
    from tuning.bounded import Unreadable
    from tuning.expdir import MAX_EXPERIMENT_BYTES

    limit = MAX_EXPERIMENT_BYTES if limit is None else limit
    try:
        stream, _ = open_file(location, limit)
    except FileNotFoundError:
        return False
    staged = Path(local).with_name(f".{Path(local).name}.download")
    copied = 0
    try:
        with stream, open(staged, "wb") as out:
            while chunk := stream.read(1 << 20):
                copied += len(chunk)
                if copied > limit:
                    raise Unreadable(f"over the limit of {limit} bytes")
                out.write(chunk)
    except Unreadable as why:
        staged.unlink(missing_ok=True)
        raise UserError(f"{location}: not read ({why})") from None
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    staged.replace(local)
    return True


def replace_text(location: str, text: str) -> None:
    """Write a small text file at `location` whole (see upload_file): a crash leaves the old one or the new."""
    with tempfile.TemporaryDirectory(prefix="tuning-upload-") as tmp:
        staged = Path(tmp) / posixpath.basename(location.rstrip("/"))
        staged.write_text(text)
        upload_file(staged, location)


def open_file(location: str, limit: int):
    """(a binary stream, its size) of the file at the path or URI `location`, read as an experiment's files are
    (tuning.bounded): a regular file only (a FIFO, socket or device is never opened), locally never through a
    link that leads out of the directory holding it, at most `limit` bytes by its listed size.
    FileNotFoundError when there is none; a UserError naming it when it is refused."""
    import os

    from pyarrow import fs

    from tuning.bounded import Unreadable, open_regular

    filesystem, path = _fs(location)
    try:
        if isinstance(filesystem, fs.LocalFileSystem):  # a path or file://: links and FIFOs are what they are here
            stream = open_regular(path, os.path.realpath(os.path.dirname(os.path.abspath(path))))
            size = os.fstat(stream.fileno()).st_size
        else:
            info = filesystem.get_file_info(path)
            if info.type == fs.FileType.NotFound:
                raise FileNotFoundError(location)
            if info.type != fs.FileType.File:
                kind = "a directory" if info.type == fs.FileType.Directory else "something else"
                raise Unreadable(f"{kind}, not a regular file")
            stream, size = filesystem.open_input_stream(path), info.size
        if size is not None and size > limit:
            stream.close()
            raise Unreadable(f"{size} bytes, over the limit of {limit}")
    except Unreadable as why:
        raise UserError(f"{location}: not read ({why})") from None
    return stream, size


def read_text(location: str, limit: int | None = None) -> str:
    """Read a small text file at `location` (an experiment's environment.json, its lock, a node check's marker)
    as open_file reads it: at most `limit` bytes (by default tuning.expdir.MAX_FILE_BYTES); FileNotFoundError
    when there is none, a UserError naming it when it is refused."""
    from tuning.bounded import Unreadable, read_limited
    from tuning.expdir import MAX_FILE_BYTES

    limit = MAX_FILE_BYTES if limit is None else limit
    stream, size = open_file(location, limit)
    try:
        with stream:
            return read_limited(stream, size, limit).decode()
    except Unreadable as why:
        raise UserError(f"{location}: not read ({why})") from None


def local_copy(location: str, into: str | None = None) -> str:
    """A local directory with the experiment's files a report reads (sweep.yaml and the JSON files; no
    checkpoint, log or pickle): the path itself, or a download.

    The URI must hold a sweep.yaml before anything is downloaded, and the download has the report's bounds
    (tuning.expdir: a file over MAX_FILE_BYTES is skipped, the whole stops at MAX_EXPERIMENT_BYTES). A
    download into a temporary directory (no `into`) is removed when the process exits, so that
    `tuning report s3://...` leaves nothing behind. A listed name that would land outside the copy
    (`..`, an absolute or empty part: a crafted remote key) is skipped with a warning.
    """
    from tuning.expdir import MAX_EXPERIMENT_BYTES, MAX_FILE_BYTES

    if not is_uri(location):
        return location
    require_experiment(location)
    if into is None:
        into = tempfile.mkdtemp(prefix="tuning-report-")
        atexit.register(shutil.rmtree, into, ignore_errors=True)
    target = Path(into) / posixpath.basename(_fs(location)[1].rstrip("/"))
    download_tree(
        location,
        target,
        skip=lambda relative: not _report_reads(relative),
        limit=(MAX_FILE_BYTES, MAX_EXPERIMENT_BYTES),
    )
    return str(target)


def _report_reads(relative: str) -> bool:
    """Whether the report reads the file `relative` of an experiment (tuning.report.load)."""
    from tuning.expdir import ENVIRONMENT_FILE, SWEEP_FILE, TRIAL_FILE, state_files

    top, _, name = relative.rpartition("/")
    if not top:
        return name in (SWEEP_FILE, ENVIRONMENT_FILE) or bool(state_files([name]))
    return "/" not in top and name in ("params.json", "result.json", TRIAL_FILE, "error.txt")


def require_experiment(location: str) -> None:
    """UserError unless the URI `location` holds a sweep.yaml: checked before anything is downloaded (a
    directory that is no experiment may be huge: `file:///usr/lib`)."""
    from pyarrow import fs

    from tuning.expdir import SWEEP_FILE

    filesystem, path = _fs(location)
    try:
        top = filesystem.get_file_info(fs.FileSelector(path.rstrip("/"), recursive=False))
    except (OSError, ValueError):  # not found, not a directory, or unreachable
        top = []
    if not any(e.type == fs.FileType.File and e.path.rstrip("/").rpartition("/")[2] == SWEEP_FILE for e in top):
        raise UserError(
            f"experiment {location}: does not exist or has no {SWEEP_FILE} (not a tuning experiment); "
            "nothing was downloaded"
        )


def _entries(location: str):
    """(relative path, 'dir' | 'file' | None, size, a function that opens it) of everything below `location`.

    A local directory (a file:// URI) is listed by tuning.expdir.ExpDir, which never follows a link out
    of it nor opens a FIFO or device (pyarrow's listing would); a remote one by its filesystem."""
    import functools

    from pyarrow import fs

    filesystem, path = _fs(location)
    if isinstance(filesystem, fs.LocalFileSystem):
        from tuning.expdir import ExpDir

        exp = ExpDir(path)
        for relative, why in exp.refused.items():
            warnings.warn(f"{location}: skipped {relative!r} ({why})")
        yield from ((f"{d}/{n}" if d else n, "dir", 0, None) for d, names in exp.subdirs.items() for n in names)
        yield from ((rel, "file", size, functools.partial(exp.open, rel)) for rel, size in exp.files.items())
        return
    prefix = path.rstrip("/") + "/"
    for info in filesystem.get_file_info(fs.FileSelector(path, recursive=True)):
        kind = {fs.FileType.Directory: "dir", fs.FileType.File: "file"}.get(info.type)
        yield (
            info.path[len(prefix) :] if info.path.startswith(prefix) else "",
            kind,
            info.size or 0,
            functools.partial(filesystem.open_input_stream, info.path),
        )


def download_tree(
    location: str, target: Path, checkpoint_dirs: bool = False, skip=None, limit: tuple[int, int] | None = None
) -> None:
    """The files below the URI `location`, into `target`, but what is inside a checkpoint_* directory.

    `checkpoint_dirs`: every listed directory is made, a checkpoint's empty (what the crash repairs of a
    resume look at); `skip`: relative path -> whether to leave that file out; `limit`: (bytes of a file, bytes
    in all): a file over the first is skipped with a warning, the download stops with one at the second. A
    listed name that would land outside `target` (`..`, an absolute or empty part: a crafted remote key) is
    skipped with a warning.
    """
    total = 0
    for relative, kind, size, opener in _entries(location):
        dest = inside(target, relative)
        if dest is None:
            warnings.warn(
                f"{location}: skipped {relative or '(a listed name)'!r}, a name that would land outside the local copy"
            )
            continue
        parts = relative.split("/")
        in_checkpoint = next((i for i, part in enumerate(parts[:-1]) if part.startswith("checkpoint_")), None)
        if in_checkpoint is not None or kind == "dir":
            if checkpoint_dirs:
                target.joinpath(*parts[: in_checkpoint + 1 if in_checkpoint is not None else None]).mkdir(
                    parents=True, exist_ok=True
                )
        elif kind == "file" and not (skip and skip(relative)):
            if limit and size > limit[0]:
                warnings.warn(f"{location}/{relative}: skipped ({size} bytes, over the limit of {limit[0]})")
                continue
            if limit and total + size > limit[1]:
                warnings.warn(f"{location}: downloaded {total} bytes, the limit; the rest is left out")
                return
            total += _copy(opener, dest, location, relative, limit[0] if limit else None)


def _copy(opener, dest: Path, location: str, relative: str, limit: int | None) -> int:
    """Stream one file to `dest` (at most `limit` bytes: over it, nothing is kept and a warning names it);
    the bytes copied."""
    from tuning.bounded import Unreadable

    dest.parent.mkdir(parents=True, exist_ok=True)
    copied = 0
    try:
        with opener() as stream, open(dest, "wb") as out:
            while chunk := stream.read(1 << 20):
                copied += len(chunk)
                if limit is not None and copied > limit:
                    raise Unreadable(f"over the limit of {limit} bytes")
                out.write(chunk)
    except Unreadable as why:
        dest.unlink(missing_ok=True)
        warnings.warn(f"{location}/{relative}: skipped ({why})")
        return 0
    return copied


def inside(root: Path, relative: str) -> Path | None:
    """`root / relative` when that stays inside `root`; None for `..`, absolute or empty parts, or a link out."""
    parts = relative.split("/")
    if not relative or any(part in ("", ".", "..") for part in parts):
        return None
    dest = root.joinpath(*parts)
    return dest if dest.resolve().is_relative_to(root.resolve()) else None


def _node_check(storage: str, driver_marker: str, token: str, node_id: str) -> str | None:
    """Runs on one node: read the driver's marker, write and read back this node's own. None when fine."""
    try:
        if read_text(driver_marker) != token:
            return f"reads {driver_marker}, but not the file the driver wrote there (a node-local path?)"
        own = posixpath.join(posixpath.dirname(driver_marker), f"node-{node_id}")
        write_text(own, token)
        if read_text(own) != token:
            return f"wrote {own} but read back something else"
    except Exception as exc:  # noqa: BLE001 - any failure is the answer, reported per node
        return f"{type(exc).__name__}: {exc}"
    return None


def check_nodes(storage: str) -> int:
    """Every alive node writes and reads a marker in `storage`; a UserError names each node that cannot."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    marker_dir = experiment_location(storage, f"{PREFLIGHT_DIR}/{token}")
    driver_marker = marker_dir.rstrip("/") + "/driver"
    try:
        write_text(driver_marker, token)
    except OSError as exc:
        raise UserError(f"run.storage {storage}: the driver cannot write there: {exc}") from None
    check = ray.remote(num_cpus=0)(_node_check)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    futures = {
        n["NodeManagerAddress"] + " " + n["NodeID"][:12]: check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(storage, driver_marker, token, n["NodeID"])
        for n in nodes
    }
    done, _ = ray.wait(list(futures.values()), num_returns=len(futures), timeout=NODE_CHECK_TIMEOUT_S)
    answers = {
        name: ray.get(ref) if ref in done else f"no answer within {NODE_CHECK_TIMEOUT_S:g} s"
        for name, ref in futures.items()
    }
    problems = [f"node {name}: {why}" for name, why in answers.items() if why]
    _remove(marker_dir)
    if problems:
        raise UserError(
            f"run.storage {storage}: not every node of the cluster can use it:\n  "
            + "\n  ".join(problems)
            + "\nUse a filesystem mounted at the same path on every node, "
            "or a URI every node can reach (s3://bucket/prefix, gs://bucket/prefix)."
        )
    return len(nodes)


def _remove(location: str) -> None:
    """Best-effort removal of the preflight markers."""
    from pyarrow import fs

    filesystem, path = _fs(location)
    try:
        filesystem.delete_dir(path)
        parent = posixpath.dirname(path)
        if not filesystem.get_file_info(fs.FileSelector(parent)):
            filesystem.delete_dir(parent)
    except OSError:
        pass

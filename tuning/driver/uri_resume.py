"""`tuning resume` of an experiment on URI storage (`file://`, `s3://`, `gs://`): the same checks and crash repairs as
for a local one, made on a local copy of its small files and written back.

The copy holds every file but the checkpoints' contents; each checkpoint directory is there, empty, so
that the repairs see which checkpoints still exist. A file the checks or repairs change is uploaded
back whole (tuning.storage.upload_file) before Tune's restore reads the experiment; the study is
downloaded to this machine's live path (tuning.driver.study), settled there and published again.
"""

import hashlib
import posixpath
import shutil
import tempfile
from pathlib import Path

from tuning.driver.study import STUDY_FILE
from tuning.errors import UserError


def download_skeleton(location: str) -> Path:
    """A local copy of the experiment at `location` without checkpoint contents (their directories kept,
    empty) and without its study; removed when the process exits."""
    import atexit

    from tuning.storage import download_tree

    root = Path(tempfile.mkdtemp(prefix="tuning-resume-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    # the study is fetched apart; dot-files are uploads being staged
    download_tree(
        location,
        root,
        checkpoint_dirs=True,
        skip=lambda relative: relative == STUDY_FILE or posixpath.basename(relative).startswith("."),
    )
    return root


def digests(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file below `root`."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def write_back(root: Path, before: dict[str, str], location: str) -> list[str]:
    """Upload each file below `root` that is new or changed since `before` to `location`; return their paths."""
    from tuning.storage import upload_file

    changed = sorted(rel for rel, digest in digests(root).items() if before.get(rel) != digest)
    for rel in changed:
        upload_file(root / rel, f"{location.rstrip('/')}/{rel}")
    return changed


def load_uri_experiment(location: str):
    """(local copy, resolved sweep) of the experiment at the URI `location`, checked as a local one is; a
    UserError saying what is missing."""
    from tuning.driver.resume import check_files, require_snapshot
    from tuning.expdir import SWEEP_FILE, ExpDir
    from tuning.storage import experiment_location, is_nonempty, local_path, require_experiment
    from tuning.sweep.config import parse_sweep

    location = location.rstrip("/")
    if not is_nonempty(location):
        raise UserError(f"experiment {location}: does not exist (or is empty)")
    require_experiment(location)  # before the download: a directory that is no experiment may be huge
    if (local := local_path(location)) is not None:
        # Tune's restore reads the experiment where it is, not our copy: a FIFO there would hang it
        check_files(ExpDir(local))
    copy = download_skeleton(location)
    # read with the bounds of every reader of an experiment (size, depth, YAML aliases), then checked in full
    cfg = parse_sweep(ExpDir(str(copy), shallow=True).sweep(), origin=f"{location}/{SWEEP_FILE}")
    recorded = experiment_location(cfg.run.storage, cfg.name)
    if recorded.rstrip("/") != location:
        # Tune's pickled state names its storage; the study's live path is keyed by the location too.
        raise UserError(
            f"experiment {location}: it was created as {recorded}; copy it back there to resume. "
            "`tuning report` works from anywhere"
        )
    require_snapshot(copy, location, f"{location}/{SWEEP_FILE}")
    return copy, cfg


def repair_uri(location: str, copy: Path, before: dict[str, str]) -> None:
    """The crash repairs of a local resume, made on `copy` and written back; the study fetched, settled, published."""
    from tuning.driver.resume import repair
    from tuning.driver.study import fetch, publish

    study = fetch(location)
    repair(copy, study or copy / STUDY_FILE)  # the copy holds no study: without one there is nothing to settle
    if study is not None:
        publish(location)
    write_back(copy, before, location)

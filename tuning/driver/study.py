"""The Optuna study of an experiment on URI storage (`file://`, `s3://`, `gs://`): a live SQLite file on the
driver, its copy in the experiment.

An object store holds no live SQLite database, so the driver works on a local file (`live_path`) and
publishes a consistent copy of it (SQLite's online backup) to `<experiment>/optuna.db`, replacing it
whole, after every suggestion and every ended trial: before Tune can save a state that names the
trial or has it ended. The copy in the experiment therefore always knows every trial Tune's saved
state can name. What a crash between two publications can lose is newer than Tune's own snapshot:
intermediate values reported since (the resumed trial reports them again) and a suggestion Tune never
saved (the resume marks it FAIL: resume.settle_orphans). A resume downloads the copy to `live_path` on
whatever machine runs it, and the storage Tune unpickles with its searcher opens that file there
(tuning.driver.study_storage.StudyStorage.__setstate__), not the path of the machine that wrote it.

write_ranks: as a sweep (or a resume) ends, each study trial gets the report's rank, for any experiment.
"""

import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

STUDY_FILE = "optuna.db"  # Optuna's study (SQLite) inside the experiment directory
RANK_ATTR = "rank"  # the user attribute of a study trial that holds its rank in the report (`tuning dashboard`)
LIVE_ROOT = "TUNING_STUDY_DIR"  # environment variable: where live studies of URI experiments go


def live_path(location: str) -> Path:
    """The local file the driver of the experiment at `location` (a URI) works on: the same on every
    machine for one experiment, another for every other experiment."""
    root = os.environ.get(LIVE_ROOT) or os.path.join(tempfile.gettempdir(), "tuning-studies")
    digest = hashlib.sha256(location.rstrip("/").encode()).hexdigest()[:16]
    return Path(root) / digest / STUDY_FILE


def _copy(source: Path, dest: Path) -> None:
    """A consistent copy of the SQLite file `source` (committed transactions only, WAL included) at `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    src, out = sqlite3.connect(source, timeout=30), sqlite3.connect(tmp)
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()
    os.replace(tmp, dest)


def publish(location: str) -> None:
    """Upload a consistent copy of the live study to `<location>/optuna.db`, replacing the old one whole."""
    from tuning.storage import upload_file

    live = live_path(location)
    snapshot = live.with_name(f"{STUDY_FILE}.publish")
    _copy(live, snapshot)
    upload_file(snapshot, f"{location.rstrip('/')}/{STUDY_FILE}")


def fetch(location: str) -> Path | None:
    """Download `<location>/optuna.db` to the live path (replacing a stale one); None when there is none."""
    from tuning.storage import download_file

    live = fresh(location)  # -wal/-shm of an earlier run would be applied to it
    return live if download_file(f"{location.rstrip('/')}/{STUDY_FILE}", live) else None


def fresh(location: str) -> Path:
    """An empty live path for a new experiment at `location` (what an earlier one left there removed)."""
    live = live_path(location)
    live.parent.mkdir(parents=True, exist_ok=True)
    for stale in live.parent.glob(f"{STUDY_FILE}*"):
        stale.unlink()
    return live


def discard(location: str) -> None:
    """Remove the live study of `location` from this machine (the sweep's driver ended; the experiment has it)."""
    shutil.rmtree(live_path(location).parent, ignore_errors=True)


def write_ranks(location, outcome: str = "finished") -> None:
    """Write each trial's rank in the report into its study trial (user attribute `rank`) when the sweep's run
    `outcome` is finished: optuna-dashboard then shows the ranks `tuning report` gives. `location`: the experiment's
    Path, or its URI, whose live study is written and published. An experiment without a study (searcher random or
    grid) has none to write; a report or study that cannot be read or written leaves the ranks out with a warning
    (the sweep itself ended well)."""
    import warnings

    from tuning.compat.study_attrs import set_by_tune_id
    from tuning.errors import UserError
    from tuning.report import load_report
    from tuning.storage import local_copy

    uri = not isinstance(location, Path)
    db = live_path(location) if uri else location / STUDY_FILE
    if outcome != "finished" or not db.is_file():  # an interrupted sweep's ranks are not its last
        return
    try:
        report = load_report(local_copy(location) if uri else str(location))
        set_by_tune_id(db, RANK_ATTR, {trial.trial_id: trial.rank for trial in report.trials})
        if uri:
            publish(location)
    except (UserError, sqlite3.Error, OSError) as why:
        warnings.warn(f"the ranks were not written into the study of {location}: {why}", stacklevel=2)

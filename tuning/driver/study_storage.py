"""The Optuna storage of an experiment's study: SQLite committed without fsync, and for a URI experiment a storage
that publishes itself (tuning.driver.study) and that Tune pickles with the searcher (tuning.stored)."""

from pathlib import Path

import optuna

from tuning.compat.optuna import rebind_rdb_state
from tuning.driver.study import live_path, publish


class StudyStorage(optuna.storages.RDBStorage):
    """RDBStorage of a URI experiment's live study: `publish()` uploads it; unpickled (Tune's restore of its
    searcher) it opens the live path of this machine, where `tuning resume` downloaded the study."""

    def __init__(self, location: str, url: str, **kwargs):
        self.location = location
        super().__init__(url, **kwargs)

    def publish(self) -> None:
        publish(self.location)

    def __setstate__(self, state):
        super().__setstate__(rebind_rdb_state(state, f"sqlite:///{live_path(state['location'])}"))
        commit_without_fsync(self.engine)


def open_storage(path: Path, location: str | None = None):
    """An Optuna RDB storage on the SQLite file `path`; with `location` (a URI experiment), one that publishes
    itself there and that reopens the live path of whatever machine unpickles it."""
    # A generous lock timeout: the report or a user's optuna-dashboard may read the file meanwhile.
    kwargs = {"engine_kwargs": {"connect_args": {"timeout": 30}}}
    storage = (
        StudyStorage(location, f"sqlite:///{path}", **kwargs)
        if location
        else optuna.storages.RDBStorage(f"sqlite:///{path}", **kwargs)
    )
    commit_without_fsync(storage.engine)
    return storage


def commit_without_fsync(engine) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: a commit no longer waits for the disk.

    Optuna commits several times per suggestion and once per reported result; with SQLite's default
    journal each commit is an fsync (tests/benchmarks/scale_1000.py: suggestions 2-4x slower, results
    about 3x). Committed data is in the WAL before the call returns, so a killed driver loses nothing;
    only an OS crash or power loss can lose the last commits.
    """
    from sqlalchemy import event

    def pragmas(connection, _record):
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # the connections that set up the storage were opened without the pragmas

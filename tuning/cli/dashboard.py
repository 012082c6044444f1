"""`tuning dashboard EXP`: optuna-dashboard on the experiment's Optuna study, read-only, on 127.0.0.1 by default.

The study is `optuna.db` in the experiment (what the optuna searcher keeps: tuning.driver.study). A local one is
served from the file itself, opened read-only by SQLite, so the dashboard is live while the sweep runs (the sweep
commits every result to it) and can change nothing in it. A URI experiment's study (s3://, gs://, file://) is
downloaded to a temporary copy, downloaded again every --refresh seconds while the dashboard runs (the sweep's
driver publishes the study there after every suggestion and every ended trial), and removed when it stops. Its
trials carry the Tune trial id (user attribute `tune_trial_id`) and, once the sweep ended, the report's rank
(`rank`: tuning.driver.study.write_ranks).

Light at import (argparse only): optuna and optuna_dashboard are imported when the command runs. Ctrl-C (or
SIGTERM) stops the server: exit 0, the way a server is meant to end.
"""

import argparse
import contextlib
import signal
import sys
import threading

from tuning.errors import UserError
from tuning.text import inert

STUDY_FILE = "optuna.db"  # the study's file in an experiment (tuning.driver.study.STUDY_FILE)
EXTRA = "pip install 'tuning[dashboard]'"
DEFAULT_PORT = 8080  # optuna-dashboard's own default
REFRESH_S = 10.0  # a URI experiment's study is downloaded again this often


def add_dashboard(sub, name: str) -> None:
    """The `dashboard` verb's parser."""
    p = sub.add_parser(
        name,
        help="optuna-dashboard on an experiment's study, live while the sweep runs",
        description="Serve optuna-dashboard (an optional extra: " + EXTRA + ") on the Optuna study of an "
        "experiment (its optuna.db), read-only; its trials carry the report's trial ids and ranks. "
        "Ctrl-C stops it. Example: tuning dashboard runs/quickstart --port 8080",
    )
    p.add_argument("experiment", help="an experiment directory or its URI, e.g. runs/quickstart or s3://bucket/runs/x")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine)")
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT}; 0: any free one)"
    )
    p.add_argument(
        "--refresh",
        type=_seconds,
        default=REFRESH_S,
        metavar="S",
        help=f"a URI experiment's study is downloaded again every S seconds (default {REFRESH_S:g})",
    )
    p.set_defaults(func=run_dashboard)


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {value!r}")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {value!r}")
    return seconds


def run_dashboard(args) -> None:
    """Check the experiment and its study, then serve the dashboard until Ctrl-C or SIGTERM."""
    _require_extra()
    _require_study(args.experiment)
    with _stop_on_sigterm(), study_file(args.experiment) as (path, refreshed):
        storage = _open_study(path, args.experiment)
        try:
            server = _bind(args.host, args.port)  # before the app: a port in use is told without its import's seconds
            with server:  # server_close() at the end
                server.set_app(_import_extra().wsgi(storage))
                _serve(server, args, _Refresher(refreshed, args.refresh) if refreshed else None)
        finally:
            storage.engine.dispose()


def _serve(server, args, refresher) -> None:
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{server.server_port}/dashboard"
    print(inert(f"optuna-dashboard of {args.experiment}: {url}"), flush=True)
    print("Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("tuning dashboard: stopped", file=sys.stderr)
    finally:
        if refresher:
            refresher.stop()


MISSING = (
    f"the dashboard needs optuna-dashboard, an optional extra of tuning: {EXTRA} (or pip install optuna-dashboard)"
)


def _require_extra() -> None:
    """UserError naming the extra unless optuna_dashboard can be imported (found, not imported: that takes seconds)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("optuna_dashboard") is not None
    except (ImportError, ValueError):  # ValueError: a None entry in sys.modules (an import blocked on purpose)
        found = False
    if not found:
        raise UserError(MISSING)


def _import_extra():
    try:
        import optuna_dashboard
    except ImportError:  # found but broken (a dependency of it missing)
        raise UserError(MISSING) from None
    return optuna_dashboard


def _require_study(experiment: str) -> None:
    """UserError unless `experiment` is one (its sweep.yaml read) whose searcher keeps an Optuna study."""
    from tuning.expdir import ExpDir
    from tuning.search.registry import either, names_with
    from tuning.search.searchers import SEARCHERS
    from tuning.storage import is_uri, require_experiment

    if is_uri(experiment):
        require_experiment(experiment)
    exp = ExpDir(experiment, shallow=True)
    searcher = ((exp.sweep().get("search") or {}).get("searcher") or {}).get("name")
    if not (searcher in SEARCHERS and SEARCHERS[searcher].keeps_study):
        raise UserError(
            f"experiment {exp.display}: its searcher is {searcher}, which keeps no Optuna study; the dashboard shows "
            f"the study of search.searcher.name {either(names_with(SEARCHERS, keeps_study=True))}"
        )
    if not exp.has(STUDY_FILE):
        raise UserError(
            f"experiment {exp.display}: has no {STUDY_FILE} yet (its sweep has not started searching); "
            "run the dashboard once it has"
        )


@contextlib.contextmanager
def study_file(experiment: str):
    """(the study's local file, a function that refreshes it or None): the file itself for a path; for a URI, a
    temporary copy (removed at the end) and the function that downloads it again."""
    from tuning.storage import is_uri

    if not is_uri(experiment):
        from pathlib import Path

        yield Path(experiment).expanduser().resolve() / STUDY_FILE, None
        return
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="tuning-dashboard-") as tmp:
        served = Path(tmp) / STUDY_FILE
        refresh = _downloader(f"{experiment.rstrip('/')}/{STUDY_FILE}", served)
        refresh()
        yield served, refresh


def _downloader(location: str, served):
    """A function that replaces `served` with a fresh download of `location` whole: a reader meets the old copy
    or the new one, each in SQLite's rollback journal mode (a WAL copy would leave -wal and -shm files that the
    next copy must not meet)."""
    import os
    import sqlite3
    from contextlib import closing

    from tuning.storage import download_file

    def refresh() -> None:
        fresh = served.with_name(f"{served.name}.next")
        if not download_file(location, fresh):
            raise UserError(f"{location}: not found; the experiment's study is gone")
        with closing(sqlite3.connect(fresh)) as db:
            db.execute("PRAGMA journal_mode=DELETE")
        os.replace(fresh, served)

    return refresh


def read_only_storage(path):
    """An Optuna storage on the SQLite file `path` that SQLite opens read-only: the dashboard's writes (notes,
    a study made or deleted from its page) fail there, and the file stays what the sweep wrote."""
    import sqlite3
    from urllib.parse import quote

    import optuna
    from sqlalchemy.pool import NullPool

    uri = f"file:{quote(str(path))}?mode=ro"

    def connect():
        return sqlite3.connect(uri, uri=True, timeout=30)

    # NullPool: a connection of its own for each query, closed after it. The server answers each request in a thread
    # of its own, and "sqlite://" would get SQLAlchemy's pool for an in-memory database, whose dispose() closes a
    # connection another thread is reading through (the dashboard died of SIGSEGV when a refresh met a request).
    # A fresh connection also opens the copy a refresh put in place. skip_*: nothing checked by writing.
    return optuna.storages.RDBStorage(
        "sqlite://",
        engine_kwargs={"creator": connect, "poolclass": NullPool},
        skip_compatibility_check=True,
        skip_table_creation=True,
    )


def _open_study(path, experiment: str):
    """read_only_storage(path), once it reads as an Optuna study; a UserError if not (another's file, damaged)."""
    import optuna
    import sqlalchemy

    try:
        storage = read_only_storage(path)
        storage.get_all_studies()
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError) as exc:
        raise UserError(f"experiment {experiment}: its {STUDY_FILE} does not read as an Optuna study ({exc})") from None
    return storage


def _bind(host: str, port: int):
    """A threaded WSGI server listening on host:port, quiet (no line per request), its app set later; a UserError
    when the port is taken or the host is no address of this machine."""
    import errno
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True  # a request still open does not hold up the stop

    class Quiet(WSGIRequestHandler):
        def log_message(self, format, *args):
            pass

    try:
        return make_server(host, port, None, server_class=Server, handler_class=Quiet)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"--port {port}: already in use on {host}; choose another (--port 0: any free one)"
            ) from None
        raise UserError(f"--host {host}: cannot listen there ({exc.strerror or exc})") from None


class _Refresher:
    """Downloads a URI experiment's study again every `interval` seconds, until stopped; the storage's next
    connection opens the new copy (a query under way reads the old one, which stays readable until it closes)."""

    def __init__(self, refresh, interval: float):
        self._refresh, self._interval = refresh, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tuning-dashboard-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                self._refresh()
                failing = False
            except (OSError, UserError) as why:  # the store unreachable for a while: keep the last copy
                if not failing:
                    print(inert(f"tuning dashboard: the study was not downloaded again: {why}"), file=sys.stderr)
                failing = True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)  # a download under way ends first: the copy is then removed


@contextlib.contextmanager
def _stop_on_sigterm():
    """SIGTERM (a service manager's stop) ends the server as Ctrl-C does, its temporary copy removed."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""One driver per experiment: a lock that the running driver holds from before its first change to its end.

`tuning run`, `tuning resume` (`--more` too) and `run --resume-existing` take it; a second driver is refused
(ExperimentLocked, exit 2) with the owner named. Readers (`tuning report`, compare, export) never take it.

The lock is `<experiment>/.tuning-driver.lock`, a JSON record: host, pid (and the process's start time where the
system tells it), command, since, heartbeat and a token. The holder rewrites its heartbeat every HEARTBEAT_S
seconds. A record is stale, and taken over with a one-line notice, when its owner is gone: on this host its pid
no longer runs (or runs another process), or on any host its heartbeat is older than STALE_S seconds.

On a path the record is made exclusively (a whole file hard-linked into place, atomic on local filesystems and
NFS) and a stale one is moved aside before a new one is made, so of two drivers starting together one wins.
On URI storage (s3://, gs://) it is a lease object: object stores have no exclusive create, so a driver writes
its lease, waits SETTLE_S and reads it back; the one whose lease is there holds it. A driver whose heartbeat
finds another token in the record (it was taken over while frozen) stops at once rather than drive beside it.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from tuning.bounded import Unreadable, read_regular
from tuning.errors import UserError
from tuning.storage import create_whole

LOCK_FILE = ".tuning-driver.lock"  # a dot-file: URI resumes skip dot-files as staged uploads
HEARTBEAT_S = 10.0
# Twelve missed heartbeats: a slow object store or a stalled driver is not taken for a dead one, clocks of
# two hosts may differ by a minute; a restarted cluster job on another host waits at most this long.
STALE_S = 120.0
SETTLE_S = 2.0  # URI leases: much longer than one small PUT, so two drivers racing see each other's lease
TAKE_TRIES = 3
RECORD_BYTES = 64 << 10  # a lock record is a few hundred bytes


class ExperimentLocked(UserError):
    """Another driver holds the experiment (exit 2)."""


def _now() -> float:
    return time.time()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _seconds(iso) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of process `pid` (Linux), None where the system does not say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def _process_start(pid: int) -> str | None:
    """When process `pid` started: a pid that runs again after a restart (a container's driver is often pid 1
    again) is another process."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _alive(pid, start) -> bool:
    """Whether process `pid` of this host still runs and is the one that wrote the record."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True
    # a zombie (killed, not yet reaped by its parent) drives nothing
    return stat[0] != "Z" and (start is None or stat[1] == start)


def gone(record: dict, now: float | None = None) -> str | None:
    """Why the owner of `record` is gone (its lock is stale), or None while it may still run."""
    if record.get("unreadable"):
        return "the lock is unreadable"
    if record.get("host") == socket.gethostname() and not _alive(record.get("pid"), record.get("start")):
        return "its process is gone"
    beat = _seconds(record.get("heartbeat"))
    age = (now or _now()) - beat if beat is not None else None
    if age is None or age > STALE_S:
        return f"its heartbeat is older than {STALE_S:.0f} s" if age is not None else "it records no heartbeat"
    return None


def describe(record: dict) -> str:
    """'host H pid P (`tuning resume`, since ..., heartbeat 3 s ago)'."""
    beat = _seconds(record.get("heartbeat"))
    ago = f", heartbeat {max(0.0, _now() - beat):.0f} s ago" if beat is not None else ""
    return (
        f"host {record.get('host', '?')} pid {record.get('pid', '?')} (`tuning {record.get('command', '?')}`, "
        f"since {record.get('since', '?')}{ago})"
    )


def _decode(text: str) -> dict:
    try:
        record = json.loads(text)
    except ValueError:
        return {"unreadable": True}
    return record if isinstance(record, dict) else {"unreadable": True}


class _PathRecord:
    """The record as a file on a local or shared filesystem."""

    def __init__(self, experiment: Path):
        self.path = Path(experiment) / LOCK_FILE

    def read(self, path: Path | None = None) -> dict | None:
        path = path or self.path
        try:  # a FIFO or a huge file in its place is no lock record: read bounded, never opened as such
            return _decode(read_regular(str(path), str(path.parent.resolve()), RECORD_BYTES).decode(errors="replace"))
        except FileNotFoundError:
            return None
        except Unreadable:
            return {"unreadable": True}

    def _staged(self, record: dict, suffix: str) -> Path:
        staged = self.path.with_name(f"{LOCK_FILE}.{record['token']}.{suffix}")
        staged.write_text(json.dumps(record))
        return staged

    def create(self, record: dict) -> bool:
        """Put `record` in place unless one is there; whether it was."""
        return create_whole(self.path, json.dumps(record))

    def write(self, record: dict) -> None:
        os.replace(self._staged(record, "beat"), self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def remove_stale(self, stale: dict, token: str) -> None:
        """Move the stale record aside, unless it changed hands since it was read (then it is put back)."""
        aside = self.path.with_name(f"{LOCK_FILE}.{token}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:  # another driver removed it first
            return
        if (self.read(aside) or {}).get("token") != stale.get("token"):
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)


class _ObjectRecord:
    """The record as a lease object on URI storage."""

    def __init__(self, location: str):
        self.location = f"{location.rstrip('/')}/{LOCK_FILE}"

    def read(self) -> dict | None:
        from tuning.storage import is_nonempty, read_text

        try:
            return _decode(read_text(self.location)) if is_nonempty(self.location) else None
        except FileNotFoundError:
            return None

    def create(self, record: dict) -> bool:
        if self.read() is not None:
            return False
        self.write(record)
        time.sleep(SETTLE_S)  # a driver that wrote just after us is the one whose lease is read back
        return (self.read() or {}).get("token") == record["token"]

    def write(self, record: dict) -> None:
        from tuning.storage import replace_text

        replace_text(self.location, json.dumps(record))

    def remove(self) -> None:
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(self.location)
        try:
            filesystem.delete_file(path)
        except FileNotFoundError:
            pass

    def remove_stale(self, stale: dict, token: str) -> None:
        if (self.read() or {}).get("token") == stale.get("token"):
            self.remove()


def _lost(record: dict | None) -> None:
    """The default when a heartbeat finds the lock taken over: stop writing the experiment at once."""
    owner = describe(record) if record else "nobody (the lock was removed)"
    print(
        f"tuning: this driver lost the experiment's lock to {owner}, which found it stale; stopping at once so "
        "that two drivers never write one experiment",
        file=sys.stderr,
        flush=True,
    )
    os._exit(1)


class DriverLock:
    """The lock of one experiment (a Path or a URI), held by this process from acquire() to release()."""

    def __init__(self, experiment, command: str, on_lost=_lost):
        self.experiment, self.command, self.on_lost = experiment, command, on_lost
        self.store = _PathRecord(experiment) if isinstance(experiment, Path) else _ObjectRecord(str(experiment))
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beats = None
        self._previous_sigterm = None

    def _record(self, since: float) -> dict:
        now = _now()
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start": _process_start(os.getpid()),
            "command": self.command,
            "since": _iso(since),
            "heartbeat": _iso(now),
            "token": self.token,
        }

    def acquire(self) -> "DriverLock":
        """Take the lock, taking a stale one over with a notice; ExperimentLocked while its owner runs."""
        since = _now()
        try:
            for _ in range(TAKE_TRIES):
                if self.store.create(self._record(since)):
                    self._start()
                    return self
                current = self.store.read()
                if current is None:
                    continue  # released meanwhile
                why = gone(current)
                if why is None:
                    raise ExperimentLocked(self._refusal(current))
                print(
                    f"tuning {self.command}: taking over the lock of {self.experiment} from {describe(current)}: {why}",
                    file=sys.stderr,
                    flush=True,
                )
                self.store.remove_stale(current, self.token)
            raise ExperimentLocked(self._refusal(self.store.read() or {}))
        except OSError as exc:  # a read-only experiment, an unreachable store: said before anything changes
            raise UserError(f"experiment {self.experiment}: cannot take its lock ({LOCK_FILE}): {exc}") from None

    def _refusal(self, owner: dict) -> str:
        return (
            f"experiment {self.experiment} is being driven by {describe(owner)}: one driver per experiment. "
            f"Wait for it to end or stop it, then resume (nothing was changed); a lock whose process is gone, "
            f"or whose heartbeat is older than {STALE_S:.0f} s, is taken over"
        )

    def _start(self) -> None:
        self._beats = threading.Thread(target=self._beat, name="tuning-driver-lock", daemon=True)
        self._beats.start()
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            # SIGTERM's default would end the process before `finally` releases the lock: Ctrl-C's way instead
            self._previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                current = self.store.read()
                if self._stop.is_set():  # released while this beat read: the record is gone by our own hand
                    return
                if (current or {}).get("token") != self.token:
                    self.on_lost(current)
                    return
                self.store.write({**current, "heartbeat": _iso(_now())})
            except Exception:  # noqa: BLE001 - a storage hiccup: the next beat tries again, STALE_S is far
                continue

    def release(self) -> None:
        """Stop the heartbeat and remove the record, if it is still this driver's."""
        self._stop.set()
        if self._beats is not None:
            self._beats.join(timeout=2 * HEARTBEAT_S)
        if (
            self._previous_sigterm is not None
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is _interrupt
        ):  # Ray's own, set since, stays
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if (self.store.read() or {}).get("token") == self.token:
            self.store.remove()

    def __enter__(self) -> "DriverLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def driver_lock(experiment, command: str) -> DriverLock:
    """`with driver_lock(exp_dir, "resume"):` holds the experiment's lock for the block (see the module)."""
    return DriverLock(experiment, command)

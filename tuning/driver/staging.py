"""Files tuning writes into a user's directory for a moment (the sweep staged for an upload): created
exclusively, never through a link and never over a file, and removed on every way out, SIGTERM included
(SIGKILL alone cannot be caught).

A staged file has to be inside the project, since Ray uploads one working_dir: O_CREAT | O_EXCL |
O_NOFOLLOW relative to the directory's own descriptor is what makes that safe (a link or a file already at
the name is never opened, let alone written or deleted; another name is taken instead).
"""

import contextlib
import os
import signal
import threading
import uuid
from pathlib import Path

from tuning.errors import UserError

# Signals whose default ends the process on the spot, skipping `finally`: a stop (`kill`, a container's
# stop) and a closed terminal or SSH session.
ENDING = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def exit_on_ending_signals():
    """ENDING signals raise SystemExit(128 + signal) meanwhile, so that `finally` blocks run. Only where the
    signal has its default action (one ignored under nohup stays ignored, a handler of someone else's
    stays), and only in the main thread, the one Python delivers signals to."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def end(signum, frame):
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, end) for signum in ENDING if signal.getsignal(signum) is signal.SIG_DFL}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _create_new(dir_fd: int, stem: str) -> tuple[str, int]:
    """A new file `STEM.yaml` (or `STEM-XXXXXX.yaml` when that name is taken) in the directory `dir_fd`:
    O_EXCL never opens what is there already, a link included, so no user's file is followed or replaced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for name in [f"{stem}.yaml"] + [f"{stem}-{uuid.uuid4().hex[:6]}.yaml" for _ in range(3)]:
        try:
            return name, os.open(name, flags, 0o644, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise FileExistsError(f"{stem}.yaml and three other names exist")


def _remove_own(dir_fd: int, name: str, identity: tuple[int, int]) -> None:
    """Remove `name` only while it is still the file this process created (not whatever replaced it)."""
    with contextlib.suppress(FileNotFoundError):
        now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if (now.st_dev, now.st_ino) == identity:
            os.unlink(name, dir_fd=dir_fd)


@contextlib.contextmanager
def staged(directory: Path, stem: str, data: bytes, what: str = "the sweep file"):
    """A new file `STEM.yaml` (or `STEM-XXXXXX.yaml`) in `directory` holding `data`; yields its name. Created
    exclusively, removed on every way out (SIGTERM and SIGHUP included) unless something else took its name."""
    with exit_on_ending_signals(), contextlib.ExitStack() as cleanup:
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            cleanup.callback(os.close, dir_fd)
            # A signal waits until the file is both created and due for removal: no exit in between.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(ENDING))
            try:
                name, fd = _create_new(dir_fd, stem)
                stat = os.fstat(fd)
                cleanup.callback(_remove_own, dir_fd, name, (stat.st_dev, stat.st_ino))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            with open(fd, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise UserError(f"--working-dir {directory}: cannot stage {what} there: {exc.strerror or exc}") from None
        yield name

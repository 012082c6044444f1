"""The one exception type that means "the user's input is wrong" (exit code 2)."""

import difflib


class UserError(ValueError):
    """Bad input: a config key, an argument or a path. The CLI prints it and exits 2; the Python API raises it as
    `tuning.SweepError` (a ValueError, as bad arguments to a Python function are)."""


SweepError = UserError  # the Python API's name for it (tuning.SweepError): one class, raised everywhere


def did_you_mean(word: str, choices) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def raised_at(exc: BaseException) -> str:
    """'file:line' where `exc` came from: a SyntaxError's own place, else the innermost frame outside
    installed libraries (the user's code rather than torch's), else the innermost frame."""
    import traceback

    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "site-packages" not in f.filename and not f.filename.startswith("<")]
    frame = (own or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}" if frame else "unknown place"


def describe_exception(exc: BaseException) -> str:
    """'ValueError: bad init (at /path/file.py:5)', one line."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + message if message else ''} (at {raised_at(exc)})"


def disk_full(exc: BaseException) -> str | None:
    """What filled up, when `exc` (or an error it came from) is a full disk or quota: the file's name where it is
    known, else ''; None for any other error. SQLite (the study) says it in words rather than with an errno."""
    import errno

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc.filename or ""
        if "database or disk is full" in str(exc) or "No space left on device" in str(exc):
            return ""
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full_message(what: str) -> str:
    """The one-line error for a full disk (disk_full's answer `what`): what stopped and how to go on."""
    from tuning.text import inert

    where = f" (writing {inert(what)})" if what else ""
    return (
        f"no space left on the disk{where}: the command stopped; what was saved before stays. Free space, then "
        "run it again (a sweep: `tuning resume EXPERIMENT` continues it)"
    )

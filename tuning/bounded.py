"""Reading files someone else wrote, bounded: regular files only, never a link out of their root, never a
FIFO or device opened, at most so many bytes, JSON at most so deep (tuning.expdir reads experiments with it).
Standard library only."""

import json
import os
import re
import stat

MAX_DEPTH = 128  # nesting of a JSON or YAML value: a sweep.yaml of 32 nested conditional choices (the most
# tuning.sweep.space allows) is 102 deep; Python's recursion limit (1000) stays far for every reader
_INT64 = 1 << 63  # an int beyond this is no number Arrow (csv, parquet) can hold
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # an escaped UTF-16 surrogate, paired or not


class Unreadable(Exception):
    """Why a listed file is not read (a link out, not a regular file, over a size limit)."""


def number(value) -> bool:
    """An int or float that every format can hold (not bool, not an int beyond 64 bits); NaN and inf count."""
    return (
        isinstance(value, float) or isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64
    )


def too_deep(data, max_depth: int = MAX_DEPTH, max_nodes: int | None = None) -> str | None:
    """Why `data` is nested deeper than `max_depth` (or holds more than `max_nodes` values, YAML aliases
    expanded); None when it is not. Iterative: the data may be deeper than Python's recursion limit."""
    stack, seen = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if max_nodes is not None and seen > max_nodes:
            return f"more than {max_nodes} values once YAML aliases are expanded (a YAML alias bomb?)"
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]
    return None


def load_json(text: str):
    """JSON text as data; ValueError (json.JSONDecodeError included) for text that is not JSON or is nested
    deeper than MAX_DEPTH, so that no reader meets a RecursionError, here or later."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    # fewer brackets than the limit cannot nest deeper than it: the walk is for the rare big document
    if text.count("[") + text.count("{") > MAX_DEPTH and (problem := too_deep(data)):
        raise ValueError(problem)
    return without_surrogates(data) if SURROGATE_ESCAPE.search(text) else data


def without_surrogates(data):
    """`data` with each lone UTF-16 surrogate in its text (JSON's and YAML's `\\ud800`) as U+FFFD: no format
    and no terminal can encode one. Only for data checked to be at most MAX_DEPTH deep."""
    if isinstance(data, str):
        return data.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(data, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in data.items()}
    if isinstance(data, list):
        return [without_surrogates(v) for v in data]
    return data


def inside_root(path: str, root: str) -> bool:
    """Whether the resolved `path` is `root` (resolved) or below it."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def file_kind(mode: int) -> str:
    """What a file of stat mode `mode` is, in words (for why it is not read)."""
    return (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )


def open_regular(path: str, root: str):
    """The local file `path` opened for binary reading, once it is known to be a regular file inside `root`
    (both resolved); Unreadable saying why not, FileNotFoundError when it is gone. Nothing else is ever opened:
    a FIFO or device is refused on its type, before an open that could wait or act."""
    real = os.path.realpath(path)
    if not inside_root(real, root):
        raise Unreadable("a link that leads out of the experiment")
    mode = os.stat(real).st_mode
    if not stat.S_ISREG(mode):
        raise Unreadable(f"{file_kind(mode)}, not a regular file")
    # O_NOFOLLOW and O_NONBLOCK: what was checked may have been swapped for a link or a FIFO since
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Unreadable("not a regular file")
    return os.fdopen(fd, "rb")


def read_regular(path: str, root: str, limit: int) -> bytes:
    """At most `limit` bytes of the local file `path`, opened as open_regular opens it (inside `root`, a regular
    file only); Unreadable saying why not, FileNotFoundError when it is gone."""
    with open_regular(path, root) as handle:
        return read_limited(handle, os.fstat(handle.fileno()).st_size, limit)


def read_limited(stream, size: int | None, limit: int) -> bytes:
    """At most `limit` bytes of `stream` (whose listed size is `size`); Unreadable when there are more."""
    if size is not None and size > limit:
        raise Unreadable(f"{size} bytes, over the limit of {limit}")
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise Unreadable(f"over the limit of {limit} bytes")
    return data


def reason(exc: Exception) -> str:
    """A reason to show for a file that is not what it should be: the reader's own words, or the gist."""
    if isinstance(exc, json.JSONDecodeError):
        return "not JSON, or cut short"
    return str(exc) if isinstance(exc, ValueError) and str(exc) else "not the data expected"

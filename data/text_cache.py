"""The on-disk cache of tokenized text: keyed by a fingerprint, built once under a file lock.

Layout: `<cache_dir>/<fingerprint>/` holds `dataset/` (Arrow files from `save_to_disk`),
`tokenizer/` (`save_pretrained`) and `meta.json`, written last. A directory is built under
`<fingerprint>.tmp` and renamed into place, so a reader sees a complete cache or none.
Every tokenization appends one line to `<cache_dir>/tokenize_runs.jsonl`: tests and the
benchmark count those lines to prove that a sweep tokenizes once and trials never do.
"""

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path

DEFAULT_CACHE_DIR = "~/.cache/tuning/text"
CACHE_ENV = "TUNING_TEXT_CACHE"  # overrides the default cache directory
IN_TRIAL_ENV = "TUNING_IN_TRIAL"  # set by tuning/trial/fit.py: data must already be prepared
META_FILE = "meta.json"
RUNS_FILE = "tokenize_runs.jsonl"
FORMAT_VERSION = 1  # bump when the cached layout or preprocessing changes


def cache_root(cache_dir: str | None) -> Path:
    """The cache directory: the argument, else $TUNING_TEXT_CACHE, else ~/.cache/tuning/text."""
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser().resolve()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: a changed data file changes the key even if its name does not."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path_digest(path: str | Path) -> str:
    """Digest of a local file, or of every file under a local directory (a tokenizer, say)."""
    path = Path(path).expanduser()
    if path.is_file():
        return file_digest(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return hashlib.sha256("".join(f"{p.relative_to(path)}:{file_digest(p)}" for p in files).encode()).hexdigest()


def fingerprint(key: dict) -> str:
    """A short stable hash of everything that decides the tokenized result."""
    text = json.dumps({"format": FORMAT_VERSION, **key}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_ready(entry: Path) -> bool:
    """A cache entry is complete once its meta.json exists (it is written last)."""
    return (entry / META_FILE).is_file()


def read_meta(entry: Path) -> dict:
    """The entry's metadata: label names, sizes, tokenizer facts, timings."""
    return json.loads((entry / META_FILE).read_text())


def refuse_in_trial(entry: Path) -> None:
    """Trials read the cache; tokenizing there would repeat the work once per trial."""
    if os.environ.get(IN_TRIAL_ENV):
        raise RuntimeError(
            f"no tokenized data at {entry} on {socket.gethostname()}: tokenization runs once per sweep in the "
            f"driver (`tuning run` calls prepare_data before trials start), never in a trial. Keep arguments that "
            f"change the tokens (source, columns, tokenizer, vocab_size, max_length, splits) out of search.space; "
            f"on a multi-node cluster set data.init_args.cache_dir to storage every node shares."
        )


def build_entry(entry: Path, build) -> bool:
    """Run `build(tmp_dir) -> meta` under a file lock unless another process built the entry meanwhile.

    Returns whether this call built it.
    """
    from filelock import FileLock

    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry) + ".lock"):
        if is_ready(entry):
            return False
        tmp = entry.with_name(entry.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        start = time.perf_counter()
        meta = build(tmp)
        meta["tokenize_s"] = round(time.perf_counter() - start, 3)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
        _log_run(entry, meta["tokenize_s"])
    return True


def _log_run(entry: Path, seconds: float) -> None:
    """Append one line per tokenization to the cache's run log."""
    line = {
        "fingerprint": entry.name,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "time": time.time(),
        "seconds": seconds,
    }
    with open(entry.parent / RUNS_FILE, "a") as fh:
        fh.write(json.dumps(line) + "\n")


def tokenize_runs(cache_dir: str | Path, key: str | None = None) -> list[dict]:
    """The tokenization runs logged in a cache directory, optionally for one fingerprint."""
    path = Path(cache_dir) / RUNS_FILE
    runs = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [r for r in runs if key is None or r["fingerprint"] == key]

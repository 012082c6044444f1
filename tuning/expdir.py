"""Read-only access to an experiment directory on any pyarrow filesystem (local, s3://, gs://, ...).

The report lists the directory once, recursively, and then reads only the few text files it
needs, so a remote experiment costs one listing plus one request per file read. A local
directory is listed and read with `os` alone.

An experiment may come from someone else, so reading one never leaves it and never waits: only regular
files are read (a FIFO, socket or device is never opened), a link is read only where it leads to a file
inside the experiment, a file and the whole experiment have a size limit, JSON and YAML a depth limit and
YAML the alias bound of sweep files (tuning.sweep.file.MAX_NODES). A refused file is named in one warning
when a reader asks for it; sweep.yaml, without which nothing can be read, is a UserError instead.
"""

import math
import os
import stat
import warnings
from pathlib import Path

from tuning.bounded import (
    MAX_DEPTH,
    SURROGATE_ESCAPE,
    Unreadable,
    file_kind,
    inside_root,
    load_json,
    number,
    open_regular,
    read_limited,
    read_regular,
    reason,
    too_deep,
    without_surrogates,
)
from tuning.errors import UserError

SWEEP_FILE = "sweep.yaml"  # the resolved sweep, written into every experiment directory
TRIAL_FILE = "trial.json"  # in each trial directory: seed, params, node
ENVIRONMENT_FILE = "environment.json"  # packages, git state, and one entry per run (run, resume) with its outcome
CHECKPOINT_FILE = "checkpoint.ckpt"  # in each checkpoint_NNNNNN directory of a trial: the Lightning checkpoint
STATE_PREFIX = "experiment_state-"  # Tune's snapshots of its trial list: experiment_state-<start time>.json

# Bounds on what a reader takes from an experiment (README, "The experiment directory"): above what a sweep
# writes, below what exhausts a machine's memory (parsed JSON takes ~5x its bytes). Tune's state file holds
# ~12 KB per trial (120 MB for 10,000 trials); a result.json of 10,000 epochs and 100 metrics is ~30 MB.
MAX_FILE_BYTES = 256 << 20  # one JSON or text file
MAX_SWEEP_BYTES = 1 << 20  # sweep.yaml: a few KB as tuning writes it, and PyYAML parses only ~1 MB/s
MAX_EXPERIMENT_BYTES = 2 << 30  # everything one reader reads of one experiment
MAX_ENTRIES = 1_000_000  # files and directories listed (10,000 trials list ~150,000)
# and MAX_DEPTH (tuning.bounded): nesting of a JSON or YAML value

# Tune's trial status -> the report's (and the live view's) word for it.
STATUS = {
    "TERMINATED": "completed",
    "ERROR": "errored",
    "RUNNING": "running",
    "PENDING": "pending",
    "PAUSED": "pending",
}
STATUSES = ("completed", "stopped_early", "errored", "running", "pending")


def budget(sweep: dict, params: dict) -> int | None:
    """The epochs a trial with `params` runs when no scheduler stops it: a searched trainer.max_epochs, else
    scheduler.max_t, else trainer.max_epochs, else the objective's iterations (SweepConfig.max_epochs too)."""
    candidates = (
        params.get("trainer.max_epochs"),
        (sweep["search"].get("scheduler") or {}).get("max_t"),
        (sweep.get("trainer") or {}).get("max_epochs"),
        (sweep.get("objective") or {}).get("iterations"),
    )
    # the first that is a number: a sweep read from an experiment may hold anything (ExpDir.sweep checks it)
    return next((c for c in candidates if number(c) and math.isfinite(c) and c), None)


def sweep_problem(sweep) -> str | None:
    """What makes `sweep` (sweep.yaml as data) not one tuning wrote, as far as its readers rely on it; None
    when it is fine. A reader meets a wrong type here, named by its key, rather than as a traceback later."""
    search = sweep.get("search") if isinstance(sweep, dict) else None
    one = isinstance(search, dict) and isinstance(search.get("metric"), str) and search.get("mode") in ("min", "max")
    several = (
        isinstance(search, dict)
        and isinstance(search.get("metric"), list)
        and isinstance(search.get("mode"), list)
        and len(search["metric"]) == len(search["mode"]) > 0
        and all(isinstance(m, str) for m in search["metric"])
        and all(m in ("min", "max") for m in search["mode"])
    )
    if not (
        (one or several)
        and isinstance(search.get("space"), dict)
        and all(isinstance(k, str) and isinstance(d, dict) for k, d in search["space"].items())
    ):
        return "not a sweep written by tuning (a mapping with search.metric, search.mode and search.space)"
    if search.get("scope") not in (None, "best", "last"):
        return f"search.scope: must be best or last, got {search['scope']!r}"
    for key in (
        "model",
        "data",
        "trainer",
        "resources",
        "run",
        "objective",
        "optimizer",
        "lr_scheduler",
        "search.scheduler",
        "search.searcher",
    ):
        if not isinstance(_at(sweep, key), (dict, type(None))):
            return f"{key}: must be a mapping, got {_at(sweep, key)!r:.80}"
    for key in (
        "search.scheduler.max_t",
        "trainer.max_epochs",
        "objective.iterations",
        "resources.workers",
        "run.seed",
        "run.keep_checkpoints",
        "resources.gpu",
    ):
        value = _at(sweep, key)
        if value is not None and not (
            number(value) and math.isfinite(value) and (isinstance(value, int) or key == "resources.gpu")
        ):
            return f"{key}: must be a {'number' if key == 'resources.gpu' else 'whole number'}, got {value!r:.80}"
    if any(isinstance(sweep.get(key), (dict, list)) for key in ("name", "description")):
        return "name and description must be text"
    return _space_problem(sweep)


def _at(data: dict, key: str):
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _space_problem(sweep: dict) -> str | None:
    """A searched key whose path the sweep's sections cannot hold (it crosses a value that is no mapping)."""
    from tuning.sweep.space import TRIAL_SECTIONS, apply_params, flat_specs

    try:
        apply_params(
            {k: sweep.get(k) or {} for k in TRIAL_SECTIONS}, dict.fromkeys(flat_specs(sweep["search"]["space"]))
        )
    except (ValueError, TypeError, AttributeError) as exc:
        return f"search.space: a key the sweep's sections cannot hold ({exc})"
    return None


class ExpDir:
    """An experiment directory: one recursive listing, then bounded reads of its regular files by relative path."""

    def __init__(self, location: str, shallow: bool = False):
        """`shallow`: list the directory's own files only, not the trials' (what reads environment.json needs)."""
        self._shallow = shallow
        self._fs = None  # a local directory is read through os: importing pyarrow alone costs ~0.2 s
        self.files: dict[str, int] = {}  # relative path -> size, for every readable file below the directory
        self.refused: dict[str, str] = {}  # relative path -> why it is never read (a link out, a FIFO, ...)
        self.refused_dirs: set[str] = set()  # those of them that are directories (links out)
        self.subdirs: dict[str, list[str]] = {}  # relative dir -> names of the directories in it
        self.dir_bytes: dict[str, int] = {}  # trial_x/checkpoint_y -> bytes below it (two levels deep)
        self.ckpt_files: dict[str, int] = {}  # trial_x -> .ckpt files a ModelCheckpoint kept (not Tune's checkpoint_*)
        self._left, self._listed, self._warned = MAX_EXPERIMENT_BYTES, 0, set()
        if "://" in location:
            location = self._open_uri(location)
            if location is None:
                return
        self.base = str(Path(location).expanduser().resolve()).rstrip("/") or "/"
        self.display = self.base
        self.exists = os.path.exists(self.base)
        if os.path.isdir(self.base):
            self._list_local()

    @property
    def fs(self):
        """The pyarrow filesystem holding the directory (made on first use for a local one)."""
        if self._fs is None:
            from pyarrow import fs

            self._fs = fs.LocalFileSystem()
        return self._fs

    def _open_uri(self, location: str) -> str | None:
        """List a remote experiment; for a file:// URI, the local path to list as a local directory is (links
        and FIFOs are what they are there, which pyarrow's listing does not say)."""
        from pyarrow import fs

        try:
            filesystem, base = fs.FileSystem.from_uri(location)
        except Exception as exc:  # pyarrow raises several types for an unknown or unreachable URI
            raise UserError(f"experiment {location}: cannot open ({exc})") from None
        if isinstance(filesystem, fs.LocalFileSystem):
            return base
        self._fs, self.display, self.base = filesystem, location.rstrip("/"), base.rstrip("/") or "/"
        info = self._fs.get_file_info(self.base)
        self.exists = info.type != fs.FileType.NotFound
        if info.type == fs.FileType.Directory:
            self._list_uri()
        return None

    def _add_file(self, rel: str, size: int) -> None:
        self.files[rel] = size
        parts = rel.split("/", 2)
        if len(parts) == 3:
            top = f"{parts[0]}/{parts[1]}"
            self.dir_bytes[top] = self.dir_bytes.get(top, 0) + size
        if rel.endswith(".ckpt") and len(parts) > 1 and not parts[1].startswith("checkpoint_"):
            self.ckpt_files[parts[0]] = self.ckpt_files.get(parts[0], 0) + 1

    def _counted(self) -> bool:
        """Whether one more entry may be listed (MAX_ENTRIES; a warning the first time it may not)."""
        self._listed += 1
        if self._listed == MAX_ENTRIES + 1:
            warnings.warn(f"{self.display}: listed its first {MAX_ENTRIES} files and directories only")
        return self._listed <= MAX_ENTRIES

    def _local_entry(self, entry: os.DirEntry, rel: str) -> tuple[str, int]:
        """('dir' | 'linked dir' | 'file', size) of a listed entry; Unreadable for one that is never read."""
        if not entry.is_symlink():
            if entry.is_dir(follow_symlinks=False):
                return "dir", 0
            info = entry.stat(follow_symlinks=False)
        elif not inside_root(os.path.realpath(entry.path), self.base):
            if entry.is_dir():  # only to say so: a directory out of the experiment is never listed
                self.refused_dirs.add(rel)
            raise Unreadable("a link that leads out of the experiment")
        else:
            info = os.stat(entry.path)
            if stat.S_ISDIR(info.st_mode):
                return "linked dir", 0
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{file_kind(info.st_mode)}, not a regular file")
        return "file", info.st_size

    def _list_local(self, rel: str = "") -> None:
        # scandir, not os.walk + os.stat: the entries carry their type, and a stat needs no path built
        # (10,000 trials: 0.9 s -> 0.5 s)
        dirs, below, prefix = [], [], f"{rel}/" if rel else ""
        try:
            entries = list(os.scandir(f"{self.base}/{rel}" if rel else self.base))
        except OSError:  # removed while listing (a running sweep rotates checkpoints)
            return
        for entry in entries:
            if not self._counted():
                break
            try:
                kind, size = self._local_entry(entry, prefix + entry.name)
            except Unreadable as why:
                self.refused[prefix + entry.name] = str(why)
                continue
            except OSError:  # removed since, or a broken link
                continue
            if kind == "file":
                self._add_file(prefix + entry.name, size)
                continue
            dirs.append(entry.name)
            if kind == "dir":  # a linked directory is listed, never followed (as os.walk did)
                below.append(prefix + entry.name)
        if dirs:
            self.subdirs[rel] = dirs
        # below a directory without sweep.yaml is no experiment to read: nothing more is listed (`/usr/lib`)
        if not self._shallow and (rel or self.listed(SWEEP_FILE)):
            for sub in below:
                self._list_local(sub)

    def _list_uri(self) -> None:
        from pyarrow import fs

        skip = len(self.base.rstrip("/")) + 1  # entry paths all start with "<base>/"
        top = self._fs.get_file_info(fs.FileSelector(self.base, recursive=False))
        whole = not self._shallow and any(e.path[skip:] == SWEEP_FILE for e in top)
        for entry in self._fs.get_file_info(fs.FileSelector(self.base, recursive=True)) if whole else top:
            if not self._counted():
                break
            rel = entry.path[skip:]
            parent, _, name = rel.rpartition("/")
            if entry.type == fs.FileType.Directory:
                self.subdirs.setdefault(parent, []).append(name)
            elif entry.type == fs.FileType.File:
                self._add_file(rel, entry.size or 0)

    def has(self, rel: str) -> bool:
        """Whether the file `rel` exists and may be read."""
        return rel in self.files

    def listed(self, rel: str) -> bool:
        """Whether `rel` is there at all, read or refused."""
        return rel in self.files or rel in self.refused

    def warn(self, rel: str, why) -> None:
        """The one warning naming `rel`, a file skipped for `why`."""
        if rel not in self._warned:
            self._warned.add(rel)
            warnings.warn(f"{self.path(rel)}: skipped ({why})")

    def read(self, rel: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
        """The bytes of the file `rel`, None if there is none; Unreadable saying why it is not read."""
        if rel in self.refused:
            raise Unreadable(self.refused[rel])
        if rel not in self.files:
            return None
        if self.files[rel] > limit:  # refused on its listed size, unopened
            raise Unreadable(f"{self.files[rel]} bytes, over the limit of {limit}")
        if self.files[rel] > self._left:
            raise Unreadable(f"the read limit of {MAX_EXPERIMENT_BYTES} bytes per experiment is reached")
        try:
            if self._fs is None:
                data = read_regular(f"{self.base}/{rel}", self.base, min(limit, self._left))
            else:
                with self._fs.open_input_stream(f"{self.base}/{rel}") as stream:
                    data = read_limited(stream, self.files[rel], min(limit, self._left))
        except FileNotFoundError:  # removed since the listing
            return None
        except OSError as exc:
            raise Unreadable(f"cannot be read: {exc.strerror or exc}") from None
        self._left -= len(data)
        return data

    def text(self, rel: str, limit: int = MAX_FILE_BYTES) -> str | None:
        """The text of the file `rel`; None if there is none, or, with one warning naming it, if it is refused."""
        try:
            data = self.read(rel, limit)
        except Unreadable as why:
            self.warn(rel, why)
            return None
        return None if data is None else data.decode("utf-8", errors="replace")

    def json(self, rel: str):
        """The JSON data of the file `rel`: None if there is none, if it is empty (being written), or, with one
        warning naming it, if it is refused (see `skipped`); ValueError saying why its text is no JSON data
        (cut short, nested too deep): the caller names the file in its own warning."""
        text = self.text(rel)
        return load_json(text) if text else None

    def skipped(self, rel: str) -> bool:
        """Whether `rel` was refused with a warning already (a reader then warns no more of it)."""
        return rel in self._warned

    def open(self, rel: str):
        """The file `rel` opened for binary reading, whole (a checkpoint to copy); Unreadable saying why not."""
        if rel in self.refused:
            raise Unreadable(self.refused[rel])
        if rel not in self.files:
            raise Unreadable("it does not exist")
        try:
            return (
                open_regular(f"{self.base}/{rel}", self.base)
                if self._fs is None
                else self._fs.open_input_stream(f"{self.base}/{rel}")
            )
        except OSError as exc:
            raise Unreadable(f"cannot be read: {exc.strerror or exc}") from None

    def runs(self) -> list:
        """The runs and resumes environment.json records, oldest first ([] when it is missing, being written or
        not ours)."""
        try:
            runs = (self.json(ENVIRONMENT_FILE) or {}).get("runs") or []
        except (ValueError, AttributeError):
            return []
        return [run for run in runs if isinstance(run, dict)] if isinstance(runs, list) else []

    def last_outcome(self, runs: list | None = None) -> str | None:
        """How the latest run or resume ended (environment.json, or `runs` already read from it): finished,
        interrupted, failed; None if unknown."""
        runs = self.runs() if runs is None else runs
        outcome = runs[-1].get("outcome") if runs and isinstance(runs[-1], dict) else None
        return outcome if isinstance(outcome, str) else None

    def sweep(self) -> dict:
        """The experiment's sweep.yaml as data, checked to be one tuning wrote (a UserError naming it if not)."""
        import yaml

        from tuning.sweep.file import MAX_NODES

        where = self.path(SWEEP_FILE)
        try:
            data = self.read(SWEEP_FILE, MAX_SWEEP_BYTES)
            sweep = yaml.safe_load(data.decode("utf-8", errors="replace")) if data is not None else None
        except Unreadable as why:
            raise UserError(f"{where}: not read ({why})") from None
        except yaml.YAMLError as exc:
            raise UserError(f"{where}: not valid YAML ({exc}); was it edited by hand?") from None
        except RecursionError:
            raise UserError(f"{where}: nested deeper than {MAX_DEPTH} levels; not a sweep tuning wrote") from None
        if data is None:
            problem = "does not exist" if not self.exists else f"has no {SWEEP_FILE} (not a tuning experiment)"
            raise UserError(f"experiment {self.display}: {problem}")
        problem = too_deep(sweep, MAX_DEPTH, MAX_NODES) or sweep_problem(sweep)
        if problem:
            raise UserError(f"{where}: {problem}")
        return without_surrogates(sweep) if SURROGATE_ESCAPE.search(data.decode("utf-8", errors="replace")) else sweep

    def children(self, rel: str = "") -> list[str]:
        """Names of the directories directly inside `rel` (one that is a link out is named in a warning)."""
        for refused in sorted(d for d in self.refused_dirs if d.rpartition("/")[0] == rel):
            self.warn(refused, self.refused[refused])
        return sorted(self.subdirs.get(rel, []))

    def size_below(self, rel: str) -> int:
        """Total bytes of the files below `rel`, a directory two levels down (trial/checkpoint)."""
        return self.dir_bytes.get(rel, 0)

    def path(self, rel: str) -> str:
        """The path of `rel` as a user would type it (absolute locally, a URI remotely)."""
        return f"{self.display}/{rel}"


def state_files(names) -> list[str]:
    """Tune's snapshots among an experiment's file `names` (relative), oldest first: each run adds one, named by
    its start time, and the newest by name is the one Tune's own restore picks (mtimes are not: every sync
    rewrites all of them)."""
    return sorted(n for n in names if "/" not in n and n.startswith(STATE_PREFIX) and n.endswith(".json"))


def has_snapshot(exp: ExpDir) -> bool:
    """Whether Ray Tune saved a state of the experiment: without one there is nothing to resume."""
    return bool(state_files(exp.files))


def tune_states(exp: ExpDir, warn: bool = True) -> list[dict]:
    """Trial id, status, directory and config (None unless plain JSON) from Tune's newest experiment state file.

    Its plain half, for the report, resume and tests; its pickled half (each trial's checkpoint bookkeeping) is
    read only by `tuning resume` of the user's own experiment (tuning.driver.resume.repair_checkpoints). A file cut
    short or not Tune's gives [] (with a warning unless `warn` is False).
    """
    # a refused file is listed too: the newest state is that one, never silently an older one
    states = state_files((*exp.files, *exp.refused))
    if not states:
        return []
    try:
        data = exp.json(states[-1])
        if data is None and exp.skipped(states[-1]):
            return []
        return [_tune_state(entry) for entry in (data or {})["trial_data"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # cut short, refused, or not Tune's
        if warn:
            warnings.warn(
                f"{exp.path(states[-1])}: unreadable experiment state ({reason(exc)}); statuses are "
                "inferred from results"
            )
        return []


def _tune_state(entry) -> dict:
    """One trial of Tune's state file; only plain fields are read, pickled ones (storage, resources) left alone."""
    state_json, _runtime = entry
    state = load_json(state_json)
    trial = {key: state.get(key) for key in ("trial_id", "status", "relative_logdir")}
    if not all(isinstance(trial[key], str) for key in ("trial_id", "status")):
        raise ValueError("a trial without id or status")
    trial["relative_logdir"] = trial["relative_logdir"] if isinstance(trial["relative_logdir"], str) else None
    trial["config"] = state.get("config") if isinstance(state.get("config"), dict) else None
    return trial

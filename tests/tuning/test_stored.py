"""What Tune pickles of ours (tuning/stored.py): fresh sweeps' pickles name only what PICKLED lists, every listed name
is there today, the old names of committed old experiments resolve while restoring, and nothing of it is left after.

The pickles are read opcode by opcode (pickletools), never unpickled: reading them must not import what they name.
"""

import binascii
import importlib
import pickle
import pickletools
import re
import subprocess
import sys
from collections import defaultdict
from functools import reduce
from pathlib import Path

import pytest

from tuning import stored
from tuning.sweep.config import parse_sweep

RUN_FIXTURES = Path(__file__).parent / "driver"
OLD_EXPERIMENTS = [RUN_FIXTURES / "old_experiment", RUN_FIXTURES / "old_experiment_pl"]
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}


def _is_pickle(data: bytes) -> bool:
    return data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")  # PROTO 2 to 5


def _globals(data: bytes) -> set[str]:
    """ "module:qualname" of every global the pickle `data` names, nested pickles (bytes that are one) included.

    A STACK_GLOBAL takes the two strings pushed before it, each written out or fetched from the memo."""
    memo, pushed, names = {}, [], set()  # pushed: what each opcode pushed, a string or None
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            memo[len(memo) if op.name == "MEMOIZE" else arg] = pushed[-1]
            continue
        if op.name == "FRAME":  # (may fall between the two strings)
            continue
        if op.name == "GLOBAL":
            names.add(arg.replace(" ", ":", 1))
        elif op.name == "STACK_GLOBAL":
            names.add(f"{pushed[-2]}:{pushed[-1]}")
        elif op.name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8") and _is_pickle(arg):
            names |= _globals(arg)
        pushed.append(
            memo.get(arg) if op.name in ("GET", "BINGET", "LONG_BINGET") else arg if op.name in _STRINGS else None
        )
    return names


def pickled_names(exp_dir: Path) -> dict[str, set[str]]:
    """`tuning.*` global -> the files of the experiment whose pickles name it: pickle files (tuner.pkl,
    searcher-state-*.pkl, search_gen_state-*.json, params.pkl) and the hex-encoded pickles of JSON files
    (experiment_state-*.json)."""
    found = defaultdict(set)
    for path in sorted(p for p in exp_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        blobs = [data] if _is_pickle(data) else []
        if path.suffix == ".json" and not blobs:
            blobs = [b for b in map(binascii.unhexlify, re.findall(rb"[0-9a-f]{64,}", data)) if _is_pickle(b)]
        for blob in blobs:
            for name in _globals(blob):
                if name.split(":")[0].split(".")[0] == "tuning":
                    found[name].add(str(path.relative_to(exp_dir)))
    return found


def _resolve(place: str):
    module, _, qualname = place.partition(":")
    return reduce(getattr, qualname.split("."), importlib.import_module(module))


def _branin(searcher: dict, scheduler: dict, space: dict, num_samples: int = 3) -> dict:
    return {
        "name": "branin",
        "objective": {"name": "branin", "iterations": 2},
        "search": {
            "metric": "value",
            "mode": "min",
            "num_samples": num_samples,
            "space": space,
            "searcher": {**searcher, "seed": 0},
            "scheduler": scheduler,
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0},
    }


def test_fresh_sweeps_pickle_only_what_PICKLED_lists(ray_session, tmp_path):
    """Synthetic sweeps (milliseconds a trial) down every path that pickles something of ours but hyperband's and
    pbt's (they need a model; their sections are like the others'): random search of a conditional space (its
    branch searcher), TPE with a history bound on a conditional space with a warm start in a URI experiment, and
    NSGA-II on two objectives with the median rule."""
    from tuning.driver.tuner import run_sweep

    conditional = {
        "objective.x0": {
            "choice": {
                -3.0: {"objective.x1": {"uniform": [10.0, 12.0]}},
                3.0: {"objective.x1": {"uniform": [1.0, 2.0]}},
            }
        }
    }
    first = run_sweep(parse_sweep(_branin({"name": "random"}, {"name": "fifo"}, conditional)), str(tmp_path), "first")
    tpe = _branin({"name": "optuna", "sampler": "tpe", "history": 10}, {"name": "asha", "grace_period": 1}, conditional)
    tpe["search"]["warm_start"] = [str(first)]
    run_sweep(parse_sweep(tpe), f"file://{tmp_path}", "tpe")
    zdt1 = {
        "name": "zdt1",
        "objective": {"name": "zdt1", "iterations": 2},
        "search": {
            "metric": ["f1", "f2"],
            "mode": ["min", "min"],
            "num_samples": 3,
            "space": {f"objective.x{i}": {"uniform": [0.0, 1.0]} for i in range(4)},
            "searcher": {"name": "optuna", "sampler": "nsga2", "seed": 0},
            "scheduler": {"name": "median", "metric": "f1", "min_samples_required": 1},
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0},
    }
    run_sweep(parse_sweep(zdt1), str(tmp_path), "nsga2")

    found = defaultdict(set)
    for name in ("first", "tpe", "nsga2"):
        for global_, files in pickled_names(tmp_path / name).items():
            found[global_] |= {f"{name}/{f}" for f in files}
    unlisted = {name: sorted(files)[:3] for name, files in found.items() if name not in stored.PICKLED}
    assert not unlisted, f"pickled but not in tuning.stored.PICKLED (name: files): {unlisted}"
    # the paths were taken: what each of them pickles was found
    assert {
        "tuning.driver.study_storage:StudyStorage",
        "tuning.compat.optuna:BoundedTPESampler",
        "tuning.compat.optuna:PicklableNSGAIISampler",
        "tuning.search.conditional:define_by_run",
        "tuning.driver.warm_start:Point",
        "tuning.sweep.config:MedianSpec",
    } <= set(found), sorted(found)
    assert any(f.startswith("first/") for files in found.values() for f in files), "the branch searcher's"


@pytest.mark.parametrize("place", sorted(stored.PICKLED))
def test_every_pickled_name_is_there_today(place):
    """A move or rename of a listed class or function fails here: add its old place to MOVED or MOVED_NAMES."""
    assert _resolve(place) is not None


@pytest.mark.parametrize("experiment", OLD_EXPERIMENTS, ids=lambda p: p.name)
def test_old_experiments_name_only_what_is_listed_or_moved(experiment):
    """The committed old experiments' pickles: each name is served by MOVED / MOVED_NAMES while restoring, or is
    still where it was and listed in PICKLED."""
    names = pickled_names(experiment)
    assert names, f"no tuning names in {experiment}'s pickles: the reader is broken"
    with stored.restoring():
        unresolved = [name for name in names if _pickled_lookup(name) is None]
    assert not unresolved, unresolved
    in_place = {
        name
        for name in names
        if name.partition(":")[0] not in stored.MOVED and tuple(name.split(":")) not in stored.MOVED_NAMES
    }
    assert in_place <= stored.PICKLED, sorted(in_place - stored.PICKLED)


def _pickled_lookup(place: str):
    """What unpickling a reference to `place` gives (pickle's own lookup: sys.modules, then the attribute)."""
    module, _, name = place.partition(":")
    return pickle.loads(b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n.")


def test_restoring_serves_every_old_name_and_leaves_nothing_behind():
    new_modules = {old: importlib.import_module(new) for old, new in stored.MOVED.items()}
    holders = {module: importlib.import_module(module) for module, _ in stored.MOVED_NAMES}
    modules_before = set(sys.modules)
    attributes_before = {module: set(vars(holder)) for module, holder in holders.items()}
    with stored.restoring():
        for old, new in new_modules.items():
            assert importlib.import_module(old) is new, old
            for place in stored.PICKLED:  # what pickles name in the moved module, by its old name
                if place.partition(":")[0] == new.__name__:
                    assert _pickled_lookup(f"{old}:{place.partition(':')[2]}") is _resolve(place), (old, place)
        for (module, name), place in stored.MOVED_NAMES.items():
            assert _pickled_lookup(f"{module}:{name}") is _resolve(place), (module, name)
    assert set(sys.modules) == modules_before
    assert {module: set(vars(holder)) for module, holder in holders.items()} == attributes_before
    assert not any(old in sys.modules for old in stored.MOVED)


def test_importing_tuning_installs_no_import_hook():
    code = (
        "import sys; hooks = (list(sys.meta_path), list(sys.path_hooks)); import tuning, tuning.stored; "
        "print(hooks == (list(sys.meta_path), list(sys.path_hooks)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stdout + out.stderr

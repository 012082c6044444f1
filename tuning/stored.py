"""What Tune pickles of ours: part of an experiment's storage format, as much as result.json is.

Tune pickles the Tuner (tuner.pkl), the searcher (searcher-state-*.pkl), the search generator
(search_gen_state-*.json, a pickle despite its name) and parts of its trial list (experiment_state-*.json, hex-encoded
cloudpickles) with references to our classes and functions by module path and name. A sweep's pickles may name only
what PICKLED lists (tests/tuning/test_stored.py runs fresh sweeps and reads their pickles to check).
Moving or renaming one of them is a format change: add its old place to MOVED (a whole module) or MOVED_NAMES
(one name whose old module still exists), so that experiments made before keep resuming.

The old names are served only while Tune restores an experiment (`restoring()`, around `tuning resume`):
importing `tuning` installs nothing.
"""

import contextlib
import importlib
import sys

# Every `tuning.*` name a sweep's pickles may hold, as "module:qualname". Found by running sweeps of every searcher
# (optuna: tpe, tpe with history, nsga2, cmaes, gp, qmc; random, grid), every scheduler, a conditional space, a
# URI experiment and a warm start, and reading their pickles.
PICKLED = frozenset(
    {
        # every sweep: the trials' directory names, Tune callbacks (tuner.pkl, experiment_state, search_gen_state)
        "tuning.trial.fit:trial_dirname",
        "tuning.driver.placement:PendingNotice",
        "tuning.driver.progress:Progress",
        "tuning.driver.trim:ForgetFinished",
        # search.budget / search.stop (tuner.pkl; the search section's models in the searcher's pickles too)
        "tuning.driver.budget:SweepBudget",
        "tuning.driver.budget:ClosableSearch",
        "tuning.sweep.budget:BudgetSpec",
        "tuning.sweep.budget:ComputeSpec",
        "tuning.sweep.budget:StopSpec",
        "tuning.sweep.budget:PlateauSpec",
        "tuning.driver.tracking:MlflowTracking",  # track.mlflow: the tracking store and parent run's ids only
        # searcher optuna (tuner.pkl, searcher-state): the searcher, its search section and its trials' budget
        "tuning.compat.study_search:StudySearch",
        "tuning.expdir:budget",
        "tuning.sweep.config:SearchSpec",
        "tuning.sweep.config:SearcherSpec",
        "tuning.sweep.space:Domain",
        "tuning.sweep.config:AshaSpec",
        "tuning.sweep.config:HyperbandSpec",
        "tuning.sweep.config:MedianSpec",
        "tuning.sweep.config:FifoSpec",
        "tuning.compat.optuna:BoundedTPESampler",  # tpe with search.searcher.history
        "tuning.compat.optuna:PicklableNSGAIISampler",  # nsga2
        "tuning.search.conditional:define_by_run",  # a conditional space's define-by-run (functools.partial)
        "tuning.driver.study_storage:StudyStorage",  # the study of a URI experiment
        "tuning.driver.warm_start:Point",  # warm start: the earlier trials the searcher learns from
        "tuning.search.branch_search:BranchSearch",  # searcher random or grid with a conditional space
        # earlier experiments' pickles name these where they still are: the one scheduler section of every scheduler
        # (before each had its own), the trials' directory names of the flat layout (tuning/trial.py), and what the
        # branch searcher, then a class built in a function and pickled by value, called
        "tuning.sweep.config:SchedulerSpec",
        "tuning.trial:trial_dirname",
        "tuning.search.conditional:fill",
        "tuning.search.conditional:grid_points",
    }
)

# Modules of earlier layouts -> where they are now.
MOVED = {
    "tuning.placement": "tuning.driver.placement",
    "tuning.progress": "tuning.driver.progress",  # before the wings
    # before the bottom became packages
    "tuning.arguments": "tuning.sweep.arguments",
    "tuning.build": "tuning.sweep.build",
    "tuning.class_paths": "tuning.sweep.class_paths",
    "tuning.classes": "tuning.sweep.classes",
    "tuning.combinations": "tuning.sweep.combinations",
    "tuning.config": "tuning.sweep.config",
    "tuning.flavour": "tuning.sweep.flavour",
    "tuning.lightning_cli": "tuning.sweep.lightning_cli",
    "tuning.signatures": "tuning.sweep.signatures",
    "tuning.space": "tuning.sweep.space",
    "tuning.sweep_file": "tuning.sweep.file",
    "tuning.conditional": "tuning.search.conditional",
    "tuning.pareto": "tuning.search.pareto",
    "tuning.schedulers": "tuning.search.schedulers",
    "tuning.searchers": "tuning.search.searchers",
    "tuning.synthetic": "tuning.search.synthetic",
    "tuning.study_search": "tuning.compat.study_search",
    # before the Python API's tuning.run took the name of the driver's wing (tuning/run/, now tuning/driver/)
    "tuning.run.placement": "tuning.driver.placement",
    "tuning.run.progress": "tuning.driver.progress",
    "tuning.run.trim": "tuning.driver.trim",
    "tuning.run.study": "tuning.driver.study",
    "tuning.run.study_storage": "tuning.driver.study_storage",
    "tuning.run.warm_start": "tuning.driver.warm_start",
}

# (module, name) of earlier layouts whose module is still there -> "module:name" now.
MOVED_NAMES = {
    ("tuning.report", "budget"): "tuning.expdir:budget",  # before the wings
    ("tuning.compat", "PicklableNSGAIISampler"): "tuning.compat.optuna:PicklableNSGAIISampler",
    ("tuning.compat", "BoundedTPESampler"): "tuning.compat.optuna:BoundedTPESampler",
    ("tuning.driver.study", "StudyStorage"): "tuning.driver.study_storage:StudyStorage",
}


def _find(place: str):
    module, _, name = place.partition(":")
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def restoring():
    """Within this block, pickles of earlier layouts find what they name where it is now; after it, nothing of
    them is left (no module or attribute added stays)."""
    added_modules, added_names = [], []
    for old, new in MOVED.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)
            added_modules.append(old)
    for (module, name), place in MOVED_NAMES.items():
        holder = importlib.import_module(module)
        if not hasattr(holder, name):
            setattr(holder, name, _find(place))
            added_names.append((holder, name))
    try:
        yield
    finally:
        for old in added_modules:
            sys.modules.pop(old, None)
        for holder, name in added_names:
            delattr(holder, name)

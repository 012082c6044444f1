"""Modules of the flat layout that moved into a wing, for the pickles of experiments made before.

Tune pickles the Tuner (tuner.pkl) with references to our classes by module path; an experiment made by
an earlier release names tuning.progress, tuning.placement, ... A name listed here is imported as the
module it moved to, so such an experiment is still resumed (tests/tuning/run/test_old_experiment.py).
Names that are a wing's package now (tuning.report, tuning.trial) are served by the wing's face.
"""

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {"tuning.placement": "tuning.run.placement", "tuning.progress": "tuning.run.progress"}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        return None  # a placeholder; exec_module puts the moved module in its place

    def exec_module(self, module):
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


def install() -> None:
    """Serve the moved names from now on (once per process; tuning/__init__.py calls it)."""
    if not any(isinstance(finder, _Moved) for finder in sys.meta_path):
        sys.meta_path.append(_Moved())

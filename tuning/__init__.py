"""tuning: hyperparameter sweeps for PyTorch Lightning models on Ray Tune, from one YAML file.

From Python (tuning.api): `tuning.run(sweep, set=..., storage=..., name=...)` -> Experiment, `tuning.load(path)`,
`tuning.submit(sweep, address=...)` -> Job, `tuning.SweepError` (a ValueError: bad input, nothing written).
They load on first use, so `import tuning` imports no torch, Ray or pandas (nor does `tuning --help`).
"""

import os as _os

# From a checkout of this repository, `tuning` may be imported from its folder rather than from the install: a trial
# worker's path starts with the directory `tuning run` was started in (Ray's), and the README's first command runs
# there. The wheel maps tuning.models -> models/ and tuning.data -> data/ (pyproject.toml's package-dir); the folder
# alone does not, and the built-ins failed to import ("No module named 'tuning.data'"). The checkout's root joins the
# package's path, so they import from models/ and data/ the same.
_CHECKOUT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
_MAPPED = ("pyproject.toml", "data/__init__.py", "models/__init__.py")
if all(_os.path.isfile(_os.path.join(_CHECKOUT, f)) for f in _MAPPED):
    __path__.append(_CHECKOUT)

API = ("Experiment", "Job", "Report", "SweepError", "Trial", "load", "run", "submit")  # the names tuning.api lends

__all__ = list(API)


def __getattr__(name: str):
    """`tuning.run` and the other API names, imported when first asked for (PEP 562)."""
    if name not in API:
        raise AttributeError(f"module 'tuning' has no attribute {name!r}")
    from tuning import api

    value = getattr(api, name)
    globals()[name] = value  # asked once: later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *API})

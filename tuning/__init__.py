"""tuning: hyperparameter sweeps for PyTorch Lightning models on Ray Tune, from one YAML file.

From Python (tuning.api): `tuning.run(sweep, set=..., storage=..., name=...)` -> Experiment, `tuning.load(path)`,
`tuning.submit(sweep, address=...)` -> Job, `tuning.SweepError` (a ValueError: bad input, nothing written).
They load on first use, so `import tuning` imports no torch, Ray or pandas (nor does `tuning --help`).
"""

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

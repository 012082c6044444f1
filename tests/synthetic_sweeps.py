"""Sweeps of the synthetic objectives (tuning/search/synthetic.py) for tests: trials take milliseconds, so a test
checks searchers, schedulers, budgets and the driver's own behaviour, not Lightning's start-up."""


def branin_sweep(
    searcher: dict,
    scheduler: dict,
    num_samples: int,
    iterations: int = 3,
    max_concurrent: int | None = 2,
    name: str = "branin",
) -> dict:
    """A sweep of the Branin function over its whole domain; `max_concurrent` None leaves concurrency to Ray."""
    return {
        "name": name,
        "objective": {"name": "branin", "iterations": iterations},
        "search": {
            "metric": "value",
            "mode": "min",
            "num_samples": num_samples,
            "space": {"objective.x0": {"uniform": [-5.0, 10.0]}, "objective.x1": {"uniform": [0.0, 15.0]}},
            "searcher": searcher,
            "scheduler": scheduler,
        },
        "resources": {"cpu": 1} | ({"max_concurrent": max_concurrent} if max_concurrent is not None else {}),
        "run": {"seed": 0},
    }

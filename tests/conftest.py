"""Shared fixtures: one Ray session per test run (ray.init costs seconds) and a tiny sweep; the test layers.

Two layers (README, "Tests"): `pytest -m "not integration"` is the fast unit layer; the integration
layer starts Ray, a cluster, a browser or a sweep in a `tuning` process, or kills one. A test is
integration when it asks for a fixture in INTEGRATION_FIXTURES (directly or through another fixture)
or is marked `@pytest.mark.integration` (the module's `pytestmark` for a whole file).

A test that runs a program the Python environment does not bring (Chromium, rsync) is marked
`@pytest.mark.needs("program", reason=...)`: skipped where the program is missing, but failed where the
environment variable CI is set (.ci/run installs them), so CI never goes green by skipping it.
"""

import copy
import os
import shutil

import pytest

INTEGRATION_FIXTURES = {"ray_session", "cluster", "live"}  # a Ray session, a local cluster, a finished sweep


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs(program, reason): runs `program`; skipped where it is missing, failed there when $CI is set"
    )


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        (program,) = mark.args
        if shutil.which(program) is None:
            why = f"needs {program}: {mark.kwargs.get('reason', 'it runs it')}"
            if os.environ.get("CI"):
                pytest.fail(f"{why}; it is not installed here, and CI is set", pytrace=False)
            pytest.skip(why)


def pytest_collection_modifyitems(items):
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    # Files with integration tests first, those that start a cluster before them: xdist hands out whole files in
    # this order, so the long ones start at once and the many short unit files fill the end on both workers
    # instead of one worker finishing a long file alone (a run here ended with a cluster file alone for minutes).
    heavy = {item.path for item in items if item.get_closest_marker("integration")}
    clusters = {item.path for item in items if "cluster" in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: (item.path not in clusters, item.path not in heavy))


TINY_SWEEP = {
    "name": "tiny",
    "model": {"class_path": "mlp", "init_args": {"hidden_dim": 16, "num_layers": 1}},
    "data": {"class_path": "digits", "init_args": {"batch_size": 128}},
    "trainer": {"max_epochs": 2, "accelerator": "cpu"},
    "search": {
        "metric": "val_loss",
        "mode": "min",
        "num_samples": 4,
        "space": {
            "model.init_args.lr": {"loguniform": [1.0e-3, 3.0e-2]},
            "model.init_args.hidden_dim": {"choice": [8, 16]},
        },
        "searcher": {"name": "optuna", "seed": 0},
        "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
    },
    "resources": {"cpu": 1, "max_concurrent": 2},
    "run": {"seed": 0},
}


@pytest.fixture
def tiny_sweep() -> dict:
    """A fresh copy of a sweep that trains in a second or two per trial."""
    return copy.deepcopy(TINY_SWEEP)


@pytest.fixture
def restore_environ():
    """os.environ after the test exactly as before it, whatever the code under test set there (tuning's driver sets
    RAY_*, TUNE_* and PL_* variables for the Ray it starts): later tests in this process, and the processes they
    start, see none of it. (monkeypatch undoes only what the test itself set through it.)"""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def ray_session():
    """A local, loopback-only Ray started the way `tuning run` starts it, shared by the whole run."""
    import ray

    from tuning.driver.tuner import start_ray

    # start_ray sets variables (RAY_*, PL_DISABLE_FORK, TUNE_*) that Ray's processes inherit as they
    # start; this process needs them no longer, and the `tuning` subprocesses of later tests get the
    # user's environment, not this session's.
    saved = dict(os.environ)
    start_ray()
    os.environ.clear()
    os.environ.update(saved)
    yield ray
    ray.shutdown()

"""Reaches into private parts of Ray's core (its constants, node start-up, key-value store, placement groups,
runtime_env packaging): the seam (README, "How it is built").

Each function says why the public API does not do the job; tests/tuning/compat/test_seam.py checks every reach
against the installed Ray and fails naming the one an upgrade moved. Importing this module imports Ray (not Tune).
"""

import contextlib
import os

from ray._private import ray_constants as constants
from ray._private.node import Node
from ray._private.runtime_env.packaging import _dir_travel, _get_excludes
from ray._private.thirdparty.pathspec import PathSpec
from ray._raylet import PlacementGroupID
from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_put
from ray.util.placement_group import PlacementGroup
from ray.util.placement_group import remove_placement_group as remove_group


def ray_constants():
    """Ray's constants module: the loopback-only switch and the runtime_env packaging defaults have no
    public home."""
    return constants


def bind_ray_to_loopback() -> None:
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, at import, and may be imported already: the
    constant is set as well as the variable (README, "How it runs")."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants.ENABLE_RAY_CLUSTER = False


@contextlib.contextmanager
def lean_head_node():
    """A local Ray started inside this block starts no autoscaler monitor, API server or log monitor.

    ray.init has no option for them (`ray start` has --no-monitor; the API server starts even with
    include_dashboard=False, for Ray's usage statistics). A single-node sweep on this machine has
    nothing to scale, never calls the job or state APIs, and reads no worker logs (log_to_driver=False).
    Measured with Ray 2.60 on 2 cores: ray.init 0.6 s sooner, 1.7 CPU-seconds fewer taken from the
    workers importing Lightning, and ray.shutdown 1 s sooner (the monitor ignores SIGTERM, so Ray
    waits its full second before killing it).
    """
    names = ("start_monitor", "start_api_server", "start_log_monitor")
    saved = {name: getattr(Node, name) for name in names}
    for name in names:
        setattr(Node, name, lambda self, *args, **kwargs: None)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(Node, name, method)


def kv_put(key: str, value: str) -> None:
    """Ray's cluster key-value store (no public API): rank 0 of a DDP trial leaves its placement group."""
    _internal_kv_put(key, value, overwrite=True)


def kv_get(key: str) -> bytes | None:
    """What kv_put left under `key` (None if nothing)."""
    return _internal_kv_get(key)


def remove_placement_group(hex_id: str) -> None:
    """Remove a placement group known by its hex id (the public API takes the group object only)."""
    remove_group(PlacementGroup(PlacementGroupID.from_hex(hex_id)))


def ray_dir_walk(root, excludes: list[str], watch, handler, logger) -> None:
    """Walk `root` exactly as Ray's runtime_env packaging does before zipping it (Ray 2.60: `_dir_travel`
    with `_get_excludes` and Ray's default excludes first, as `upload_working_dir_if_needed` puts them;
    .gitignore files honoured unless Ray's variable says not), so what `tuning submit --dry-run` lists
    is what Ray uploads."""
    gitignore = os.environ.get(constants.RAY_RUNTIME_ENV_IGNORE_GITIGNORE, "0") != "1"
    matchers = [_get_excludes(root, constants.get_runtime_env_default_excludes() + list(excludes))]
    _dir_travel(root, matchers + ([watch] if watch else []), handler, include_gitignore=gitignore, logger=logger)


def gitwildmatch(patterns: list[str]):
    """A matcher of .gitignore-style patterns: the pathspec copy Ray ships and matches excludes with."""
    return PathSpec.from_lines("gitwildmatch", patterns)

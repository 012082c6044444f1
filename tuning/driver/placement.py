"""Where trials run: per-trial resources as a placement group, the cluster's room, why a trial waits, and whether
anything answers at a cluster's address.

Concurrency follows the cluster when `resources.max_concurrent` is unset: Tune starts a trial
whenever its placement group fits, so a bigger (or autoscaled) cluster runs more at once.
"""

import sys
import time

from ray.tune import Callback

from tuning.errors import UserError

GIB = 2**30
PENDING_NOTICE_S = 30.0  # a trial pending this long with nothing running gets a reason printed
ADDRESS_TIMEOUT_S = 5.0  # a Ray head answers a TCP connect at once; nothing answering in this long is no head


def trial_bundle(res) -> dict:
    """One training process's resources in Ray's names (CPU, GPU, memory in bytes, custom), zeros left out."""
    bundle = {"CPU": res.cpu, "GPU": res.gpu, "memory": int(res.memory * GIB), **res.custom}
    bundle = {key: value for key, value in bundle.items() if value}
    if not bundle:
        raise UserError("resources: a trial needs some resource: set cpu, gpu, memory or custom above 0")
    return bundle


def trial_resources(res):
    """A PlacementGroupFactory: one bundle per worker, placed with `resources.placement`."""
    from ray import tune

    return tune.PlacementGroupFactory([trial_bundle(res)] * res.workers, strategy=res.placement)


def _fits(need: dict, have: dict) -> int:
    """How many copies of `need` fit into `have`."""
    return min(int(have.get(key, 0) // value) for key, value in need.items())


def room(res, node_totals: list[dict]) -> int:
    """Trials that fit at once on nodes with these total resources (single-bundle trials, per node)."""
    need = trial_bundle(res)
    if res.workers == 1:
        return sum(_fits(need, node) for node in node_totals)
    total = {key: sum(node.get(key, 0) for node in node_totals) for key in need}
    return _fits(need, total) // res.workers


def describe_cluster(res) -> str:
    """One line: the cluster's nodes and resources, and how many trials fit at once."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    totals = ray.cluster_resources()
    gpus = f", {totals.get('GPU', 0):g} GPU" if totals.get("GPU") else ""
    limit = f"; at most {res.max_concurrent} at once (resources.max_concurrent)" if res.max_concurrent else ""
    return (
        f"cluster: {len(nodes)} nodes, {totals.get('CPU', 0):g} CPU{gpus}; a trial needs "
        f"{_show(trial_bundle(res))} x {res.workers}: room for {room(res, nodes)} trials at once{limit}"
    )


def _show(bundle: dict) -> str:
    return "{" + ", ".join(f"{k}: {v / GIB:g} GiB" if k == "memory" else f"{k}: {v:g}" for k, v in bundle.items()) + "}"


def pending_reason(need: dict, node_totals: list[dict], available: dict) -> str:
    """Why a trial needing `need` (summed over its bundles) does not start."""
    biggest = {key: max((node.get(key, 0) for node in node_totals), default=0) for key in need}
    missing = [key for key, value in need.items() if sum(node.get(key, 0) for node in node_totals) < value]
    if missing:
        return (
            f"the cluster has no {', '.join(missing)} to give: a trial needs {_show(need)}, the largest node "
            f"has {_show(biggest)}; add such nodes (an autoscaling cluster does once it sees the demand) "
            "or lower `resources`"
        )
    short = [key for key, value in need.items() if available.get(key, 0) < value]
    return (
        f"waiting for {', '.join(short) or 'resources'}: a trial needs {_show(need)}, free now "
        f"{_show({key: available.get(key, 0) for key in need})} (other jobs or trials hold the rest)"
    )


class PendingNotice(Callback):
    """Prints why trials wait when nothing runs for a while, so a wait never looks like a hang."""

    def __init__(self, after_s: float = PENDING_NOTICE_S):
        self.after_s, self.since, self.told = after_s, None, False

    def on_step_end(self, iteration, trials, **info):
        running = any(t.status == "RUNNING" for t in trials)
        pending = [t for t in trials if t.status == "PENDING"]
        if running or not pending:
            self.since, self.told = None, False
            return
        self.since = self.since or time.monotonic()
        if self.told or time.monotonic() - self.since < self.after_s:
            return
        import ray

        self.told = True
        need = pending[0].placement_group_factory.required_resources
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        print(
            f"{len(pending)} trial(s) pending for {self.after_s:g} s, none running: "
            f"{pending_reason(need, nodes, ray.available_resources())}",
            file=sys.stdout,
            flush=True,
        )


def check_address(address: str) -> None:
    """A UserError when nothing listens at the Ray address `address` (HOST:PORT or ray://HOST:PORT): ray.init
    would wait for it for minutes, deaf to SIGTERM."""
    import socket

    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address}: expected HEAD:6379, ray://HEAD:10001 or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=ADDRESS_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(
            f"--address {address}: nothing answers there ({exc.strerror or exc}); start the cluster or check the "
            "address (nothing was written)"
        ) from None

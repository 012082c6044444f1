"""Per-trial resources as Ray bundles, the cluster's room for trials, and why a trial waits."""

import pytest

from tuning.driver.placement import GIB, pending_reason, room, trial_bundle, trial_resources
from tuning.errors import UserError
from tuning.sweep.config import Resources


def test_resources_become_one_bundle_per_worker_with_the_strategy():
    res = Resources(cpu=2, gpu=0.25, memory=4, custom={"A100": 1}, workers=2, placement="SPREAD")
    assert trial_bundle(res) == {"CPU": 2, "GPU": 0.25, "memory": 4 * GIB, "A100": 1}
    factory = trial_resources(res)
    assert factory.strategy == "SPREAD"
    assert factory.required_resources == {"CPU": 4, "GPU": 0.5, "memory": 8 * GIB, "A100": 2}
    assert trial_bundle(Resources(cpu=1)) == {"CPU": 1}


def test_a_trial_without_any_resource_is_refused():
    with pytest.raises(UserError, match="resources: a trial needs some resource"):
        trial_bundle(Resources(cpu=0))


def test_room_counts_trials_per_node():
    nodes = [{"CPU": 8, "GPU": 1}, {"CPU": 8, "GPU": 1}, {"CPU": 16}]
    assert room(Resources(cpu=1, gpu=0.25), nodes) == 8  # four per GPU, two GPU nodes
    assert room(Resources(cpu=3), nodes) == 2 + 2 + 5
    assert room(Resources(cpu=1, custom={"A100": 1}), nodes) == 0


def test_a_pending_reason_says_what_is_missing_or_busy():
    nodes = [{"CPU": 2.0, "memory": 8 * GIB}]
    missing = pending_reason({"CPU": 1, "GPU": 1}, nodes, {"CPU": 2.0})
    assert "the cluster has no GPU to give" in missing and "lower `resources`" in missing
    busy = pending_reason({"CPU": 2}, nodes, {"CPU": 0.5})
    assert busy.startswith("waiting for CPU") and "free now {CPU: 0.5}" in busy


def test_resources_reject_an_unknown_placement():
    with pytest.raises(ValueError, match="PACK"):
        Resources(placement="SCATTER")


def test_a_trial_that_cannot_start_is_reported_with_the_reason(ray_session, tmp_path, capfd):
    """A trial asking for a resource no node has waits in a pending placement group of exactly its bundle, never
    runs, and the notice says why; the sweep ends when the notice was printed (the time budget only bounds a
    failure)."""
    import ray
    from ray import tune

    from tuning.driver.placement import PendingNotice

    def never_runs(config):
        raise AssertionError("no node has the resource")

    class StopOnceTold(tune.Stopper):
        """Ends the sweep at the first step after the notice, noting Ray's placement groups at that moment."""

        def __init__(self, notice):
            self.notice, self.groups = notice, None

        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            if self.notice.told and self.groups is None:
                self.groups = ray.util.placement_group_table()
            return self.notice.told

    before = set(ray.util.placement_group_table())
    notice = PendingNotice(after_s=1)
    stopper = StopOnceTold(notice)
    trainable = tune.with_resources(never_runs, trial_resources(Resources(cpu=1, custom={"no_such_gpu": 1})))
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(num_samples=1, time_budget_s=120),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), name="pending", verbose=0, stop=stopper, callbacks=[notice]
        ),
    )
    (result,) = tuner.fit()
    assert stopper.groups is not None, "the sweep ended without the notice"
    (group,) = [g for pg_id, g in stopper.groups.items() if pg_id not in before]
    assert group["state"] == "PENDING" and group["strategy"] == "PACK"
    assert group["bundles"] == {0: {"CPU": 1.0, "no_such_gpu": 1.0}}
    assert result.error is None and "training_iteration" not in result.metrics, "the trial never ran"
    out = capfd.readouterr().out
    assert "1 trial(s) pending for 1 s, none running: the cluster has no no_such_gpu to give" in out

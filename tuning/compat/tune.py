"""Reaches into private parts of Ray Tune and Ray Train: the files Tune writes into an experiment (search state,
trial metadata, checkpoint bookkeeping) and its controller's per-trial state.

Only the driver and `tuning resume` of the user's own experiment call these: a report never unpickles anything.
Each function says why Tune's public API does not do the job; tests/tuning/compat/test_seam.py checks them.
"""

import fnmatch
import os

from ray.train._internal import checkpoint_manager
from ray.train._internal.session import get_session
from ray.tune.execution import class_cache
from ray.tune.search.search_generator import SearchGenerator
from ray.tune.utils.serialization import TuneFunctionEncoder, _loads_with_cloudpickle
from ray.tune.utils.util import _atomic_save, _load_newest_checkpoint


def tune_trial_metadata(blob: str):
    """The cloudpickled half of one trial's entry in Tune's experiment_state-*.json (its checkpoint
    manager), as Tune itself reads it on restore.

    Only `tuning resume` of the user's own experiment calls this: a report never unpickles anything.
    """
    return _loads_with_cloudpickle(blob)


def extend_search(exp_dir: str, more: int) -> int:
    """Let a restored sweep's search algorithm propose `more` trials beyond the count it was started with; return the
    new count. Tune's restore takes the count from the SearchGenerator state it saved (search_gen_state-*.json,
    newest by name) and offers no way to change it: Tuner.restore cannot extend a sweep (ray PR #33495).
    Rewritten with Tune's own reader and atomic writer; only `tuning resume --more` of the user's own
    experiment calls this.
    """
    pattern = SearchGenerator.CKPT_FILE_TMPL.format("*")
    state = _load_newest_checkpoint(exp_dir, pattern)
    if not state or "total_samples" not in state:
        raise ValueError(f"no search state ({pattern}) in {exp_dir}")
    state.update(total_samples=state["total_samples"] + more, finished=False)
    newest = max(name for name in os.listdir(exp_dir) if fnmatch.fnmatch(name, pattern))
    _atomic_save(state, exp_dir, newest, f"extend-{newest}")
    return state["total_samples"]


def settle_search_state(exp_dir: str, trials: int, unfinished: set[str]) -> bool:
    """Make Tune's saved search state (search_gen_state-*.json, newest by name) agree with its newest trial list;
    True when it did not. Tune writes the trial list and the search state one after the other, and a driver killed
    while a sync uploaded them can leave either one older: then the restored generator's count of created trials
    is off (it would create trials beyond num_samples, or stop short of it) and the ConcurrencyLimiter's live
    trials too (it would drop the results of a trial it does not list, and hold a slot forever for one that
    ended or never reached the list: the sweep would hang). `trials`: how many the list holds; `unfinished`: the
    ids of those that will run again. Rewritten with Tune's own reader and atomic writer; only `tuning resume` of
    the user's own experiment calls it."""
    pattern = SearchGenerator.CKPT_FILE_TMPL.format("*")
    state = _load_newest_checkpoint(exp_dir, pattern)
    if not state or "counter" not in state:
        return False
    limiter = state.get("name:ConcurrencyLimiter")
    live = set(limiter["live_trials"]) if limiter and "live_trials" in limiter else set(unfinished)
    if state["counter"] == trials and live == set(unfinished):
        return False
    state["counter"] = trials
    if limiter and "live_trials" in limiter:
        limiter["live_trials"] = set(unfinished)
        limiter["num_unfinished_live_trials"] = len(unfinished)
    newest = max(name for name in os.listdir(exp_dir) if fnmatch.fnmatch(name, pattern))
    _atomic_save(state, exp_dir, newest, f"settle-{newest}")
    return True


def tune_json_encoder():
    """The JSON encoder Tune writes experiment_state-*.json with (cloudpickles what JSON cannot hold)."""
    return TuneFunctionEncoder


def checkpoint_results(manager) -> list:
    """A Tune trial's kept checkpoint results (the checkpoint manager has no public accessor)."""
    return manager._checkpoint_results


def latest_checkpoint_result(manager):
    """The checkpoint result a restored Tune trial continues from."""
    return manager._latest_checkpoint_result


def keep_checkpoints(manager, kept: list):
    """Point a trial at the checkpoints still on disk, so Tune restores the newest kept one; return it
    (None if none is kept)."""
    manager._checkpoint_results = kept
    manager._latest_checkpoint_result = max(kept, key=lambda r: r.metrics["training_iteration"], default=None)
    return manager._latest_checkpoint_result


def earliest_checkpoint_wins_ties() -> None:
    """Of a trial's checkpoints with equal scores, Tune keeps the earliest (num_to_keep), not the latest.

    Tune's checkpoint manager sorts a trial's checkpoints ascending by score and deletes from the front; it
    places a new one after those of equal score, so the latest of a tie survives, and CheckpointConfig offers
    no tie-break. Placed before them (checkpoints arrive in epoch order), the earliest does. The managers live
    in the process running Tune's controller (the driver): patched there, once.
    """
    if getattr(checkpoint_manager._insert_into_sorted_list, "earliest_wins", False):
        return

    def insert_before_equals(items, item, key, checkpoint_to_report_index=None):
        score = key(item)
        items.insert(next((i for i, kept in enumerate(items) if key(kept) >= score), len(items)), item)

    insert_before_equals.earliest_wins = True
    checkpoint_manager._insert_into_sorted_list = insert_before_equals


def take_tune_trial_env() -> dict[str, str]:
    """The variables Tune gives each trial actor as a runtime_env, after which Tune gives none.

    A runtime_env makes Ray start a cold worker for each trial; a local Ray's warm workers inherit
    the driver's environment instead (tuning.driver.tuner.start_ray). Tune has no option for this.
    """
    env = dict(class_cache.DEFAULT_ENV_VARS)
    class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE = {}, set()
    return env


def forget_metric_history(trial, keep: tuple[str, ...] = ()) -> None:
    """Drop a finished Tune trial's running statistics of every result key but `keep` (Trial.metric_analysis:
    min/max/avg/last; metric_n_steps: deques of the last values) and the JSON Tune caches of them for its
    snapshots. Tune has no option to keep fewer; it starts them afresh for a trial that reports again."""
    meta = trial.run_metadata
    for key in [k for k in meta.metric_analysis if k not in keep]:
        # both or neither: Tune creates the two together for a key it has no analysis of
        del meta.metric_analysis[key]
        meta.metric_n_steps.pop(key, None)
    meta.invalidate_cache()


def train_session():
    """The Ray Train session of this trial's thread, or None: its stop_event says Tune stopped the trial
    (the public ray.train.get_context has no such event)."""
    return get_session()


def drop_stale_staging(experiment: str) -> list[str]:
    """Remove what an earlier run of `experiment` (its path or URI) staged in this Ray session; return those paths.

    Tune writes each trial's result files into a staging directory of the Ray session and uploads them to the
    experiment. A restored trial keeps the staging path of the run that made it (its StorageContext is unpickled
    with the run's timestamp), so a resume in the same session (tuning.run, then Experiment.resume, in one
    process) appended to that run's full copy and uploaded it over the rows resume had cut: epochs twice.
    A finished run's staging holds nothing the experiment lacks."""
    import glob
    import shutil

    from ray.train.constants import _get_ray_train_session_dir

    name = os.path.basename(experiment.rstrip("/"))  # Tune's experiment_dir_name
    staged = glob.glob(f"{glob.escape(_get_ray_train_session_dir())}/*/{glob.escape(name)}/driver_artifacts")
    for path in staged:
        shutil.rmtree(path, ignore_errors=True)
    return staged

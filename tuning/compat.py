"""Every reach into a private part of Ray, Lightning or Optuna, in one place.

Each function says why the public API does not do the job. tests/tuning/test_compat.py checks every reach
against the installed versions and fails naming the one an upgrade moved; pyproject.toml declares the
versions it was tested with. Imports are inside the functions: `tuning --help`, `validate` and
`report` import neither Ray nor Lightning.

Two reaches stay where they are, because a seam function would only rename them:
- StudySearch (tuning/study_search.py) subclasses Tune's OptunaSearch and uses the attributes it keeps
  (OPTUNA_SEARCH_ATTRIBUTES) and its study's `_storage`, to read a trial's stored state;
- Optuna's storage API takes a trial's `_trial_id` (searchers, resume.settle_orphans).
The test checks both on a real OptunaSearch and study.
"""

import contextlib
import fnmatch
import importlib
import os

OPTUNA_SEARCH_ATTRIBUTES = ("_ot_study", "_ot_trials", "_space", "_completed_trials", "_storage")


# --- Ray ---------------------------------------------------------------------------------------------

def ray_constants():
    """Ray's constants module: the loopback-only switch and the runtime_env packaging defaults have no
    public home."""
    from ray._private import ray_constants as constants

    return constants


def bind_ray_to_loopback() -> None:
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, at import, and may be imported already: the
    constant is set as well as the variable (DESIGN.md, "Running Ray")."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants().ENABLE_RAY_CLUSTER = False


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
    from ray._private.node import Node

    names = ("start_monitor", "start_api_server", "start_log_monitor")
    saved = {name: getattr(Node, name) for name in names}
    for name in names:
        setattr(Node, name, lambda self, *args, **kwargs: None)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(Node, name, method)


def take_tune_trial_env() -> dict[str, str]:
    """The variables Tune gives each trial actor as a runtime_env, after which Tune gives none.

    A runtime_env makes Ray start a cold worker for each trial; a local Ray's warm workers inherit
    the driver's environment instead (tuning.run.driver.start_ray). Tune has no option for this.
    """
    from ray.tune.execution import class_cache

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


def kv_put(key: str, value: str) -> None:
    """Ray's cluster key-value store (no public API): rank 0 of a DDP trial leaves its placement group."""
    from ray.experimental.internal_kv import _internal_kv_put

    _internal_kv_put(key, value, overwrite=True)


def kv_get(key: str) -> bytes | None:
    """What kv_put left under `key` (None if nothing)."""
    from ray.experimental.internal_kv import _internal_kv_get

    return _internal_kv_get(key)


def train_session():
    """The Ray Train session of this trial's thread, or None: its stop_event says Tune stopped the trial
    (the public ray.train.get_context has no such event)."""
    from ray.train._internal.session import get_session

    return get_session()


def remove_placement_group(hex_id: str) -> None:
    """Remove a placement group known by its hex id (the public API takes the group object only)."""
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup
    from ray.util.placement_group import remove_placement_group as remove

    remove(PlacementGroup(PlacementGroupID.from_hex(hex_id)))


def tune_trial_metadata(blob: str):
    """The cloudpickled half of one trial's entry in Tune's experiment_state-*.json (its checkpoint
    manager), as Tune itself reads it on restore.

    Only `tuning resume` of the user's own experiment calls this: a report never unpickles anything.
    """
    from ray.tune.utils.serialization import _loads_with_cloudpickle

    return _loads_with_cloudpickle(blob)


def extend_search(exp_dir: str, more: int) -> int:
    """Let a restored sweep's search algorithm propose `more` trials beyond the count it was started with; return the
    new count. Tune's restore takes the count from the SearchGenerator state it saved (search_gen_state-*.json,
    newest by name) and offers no way to change it: Tuner.restore cannot extend a sweep (ray PR #33495).
    Rewritten with Tune's own reader and atomic writer; only `tuning resume --more` of the user's own
    experiment calls this.
    """
    from ray.tune.search.search_generator import SearchGenerator
    from ray.tune.utils.util import _atomic_save, _load_newest_checkpoint

    pattern = SearchGenerator.CKPT_FILE_TMPL.format("*")
    state = _load_newest_checkpoint(exp_dir, pattern)
    if not state or "total_samples" not in state:
        raise ValueError(f"no search state ({pattern}) in {exp_dir}")
    state.update(total_samples=state["total_samples"] + more, finished=False)
    newest = max(name for name in os.listdir(exp_dir) if fnmatch.fnmatch(name, pattern))
    _atomic_save(state, exp_dir, newest, f"extend-{newest}")
    return state["total_samples"]


def rebind_rdb_state(state: dict, url: str) -> dict:
    """Optuna's pickled RDBStorage state with its database URL replaced: a URI experiment's study is opened
    on the machine that resumes it, at that machine's live path (tuning.run.study). RDBStorage reopens
    `url` from its state when unpickled and offers no other way to point a restored searcher elsewhere."""
    if "url" not in state:
        raise RuntimeError("optuna's RDBStorage no longer pickles its 'url': see tuning.compat.rebind_rdb_state")
    return {**state, "url": url}


def optuna_trial(study, trial_id: int):
    """The Trial handle of a study's existing (running) trial, as Optuna's own `ask` builds it: the searcher adopts a
    trial its restored state lost (study_search.StudySearch._adopt); Optuna has no public way to reopen one."""
    import optuna

    return optuna.trial.Trial(study, trial_id)


def settle_search_state(exp_dir: str, trials: int, unfinished: set[str]) -> bool:
    """Make Tune's saved search state (search_gen_state-*.json, newest by name) agree with its newest trial list;
    True when it did not. Tune writes the trial list and the search state one after the other, and a driver killed
    while a sync uploaded them can leave either one older: then the restored generator's count of created trials
    is off (it would create trials beyond num_samples, or stop short of it) and the ConcurrencyLimiter's live
    trials too (it would drop the results of a trial it does not list, and hold a slot forever for one that
    ended or never reached the list: the sweep would hang). `trials`: how many the list holds; `unfinished`: the
    ids of those that will run again. Rewritten with Tune's own reader and atomic writer; only `tuning resume` of
    the user's own experiment calls it."""
    from ray.tune.search.search_generator import SearchGenerator
    from ray.tune.utils.util import _atomic_save, _load_newest_checkpoint

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
    from ray.tune.utils.serialization import TuneFunctionEncoder

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
    from ray.train._internal import checkpoint_manager

    if getattr(checkpoint_manager._insert_into_sorted_list, "earliest_wins", False):
        return

    def insert_before_equals(items, item, key, checkpoint_to_report_index=None):
        score = key(item)
        items.insert(next((i for i, kept in enumerate(items) if key(kept) >= score), len(items)), item)

    insert_before_equals.earliest_wins = True
    checkpoint_manager._insert_into_sorted_list = insert_before_equals


def ray_dir_walk(root, excludes: list[str], watch, handler, logger) -> None:
    """Walk `root` exactly as Ray's runtime_env packaging does before zipping it (Ray 2.60: `_dir_travel`
    with `_get_excludes` and Ray's default excludes first, as `upload_working_dir_if_needed` puts them;
    .gitignore files honoured unless Ray's variable says not), so what `tuning submit --dry-run` lists
    is what Ray uploads."""
    from ray._private.runtime_env.packaging import _dir_travel, _get_excludes

    constants = ray_constants()
    gitignore = os.environ.get(constants.RAY_RUNTIME_ENV_IGNORE_GITIGNORE, "0") != "1"
    matchers = [_get_excludes(root, constants.get_runtime_env_default_excludes() + list(excludes))]
    _dir_travel(root, matchers + ([watch] if watch else []), handler, include_gitignore=gitignore, logger=logger)


def gitwildmatch(patterns: list[str]):
    """A matcher of .gitignore-style patterns: the pathspec copy Ray ships and matches excludes with."""
    from ray._private.thirdparty.pathspec import PathSpec

    return PathSpec.from_lines("gitwildmatch", patterns)


# --- Lightning ---------------------------------------------------------------------------------------

def logged_results(trainer) -> list:
    """What the last fit logged, per loop: the fit and validation loops' result collections (each entry
    has `.meta.on_epoch`/`.on_step`). Lightning offers the values (callback_metrics), not how each was
    logged, which the metric preflight needs to say "logged per step only"."""
    loop = trainer.fit_loop.epoch_loop
    return [loop._results, loop.val_loop._results]


def lightning_cli_instantiator(dist: str, parser, config, section: str, cls: type) -> tuple:
    """LightningCLI's own instantiator (`_InstantiatorFn`, private) for `section`, as jsonargparse's
    `instantiate(..., instantiators=[it])` takes it.

    It is what makes a module built by LightningCLI reloadable: `save_hyperparameters()` then stores the
    section's config (nested class_path entries as written, not the objects built from them) with
    LightningCLI's `instantiate_module`, and `load_from_checkpoint` rebuilds nested classes from that. The
    public LightningCLI would also parse and build a Trainer, which a trial builds itself.
    """
    import types

    import yaml

    cli = importlib.import_module(f"{dist}.cli")
    # as LightningCLI._dump_config dumps it: with null values (an argument given null keeps null on reload)
    dump = parser.dump(config, skip_link_targets=False, skip_unset=False)
    holder = types.SimpleNamespace(config_dump=yaml.safe_load(dump), _dump_config=lambda: None)
    return cli._InstantiatorFn(cli=holder, key=section), cls, True  # True: subclasses of cls too


def init_optimizers(dist: str, pl_module) -> tuple[list, list]:
    """Lightning's own parser of `configure_optimizers`' many return shapes (private, stable across 2.x):
    writing our own would duplicate it and miss shapes users rely on."""
    parse = importlib.import_module(f"{dist}.core.optimizer")._init_optimizers_and_lr_schedulers
    optimizers, scheduler_configs = parse(pl_module)
    return optimizers, [c.scheduler for c in scheduler_configs]


def flat_hparams(fabric_logger, tb_logger, merged: dict) -> dict:
    """Hyperparameters flattened and sanitized as TensorBoardLogger does before writing them."""
    return tb_logger._sanitize_params(fabric_logger._flatten_dict(merged))


def convert_params(fabric_logger, hparams) -> dict:
    """Hyperparameters as a plain dict, as Lightning's loggers convert them (Namespace, dataclass...)."""
    return fabric_logger._convert_params(hparams)


def write_summary(tb_logger, summary) -> None:
    """Write one summary protobuf into the logger's event file (SummaryWriter has no public call for a
    ready-made summary; the HParams plugin's summaries are made by torch's `hparams`)."""
    tb_logger.experiment._get_file_writer().add_summary(summary)


# --- Optuna ------------------------------------------------------------------------------------------

def nsga2_sampler(seed):
    """Optuna's NSGA-II sampler, as one Tune can pickle: Optuna's genetic samplers keep a threading.Lock
    (`_thread_lock`) that pickle refuses, and Tune pickles the searcher with the sweep's state (at
    Tuner creation and in every snapshot). The lock only guards threads sharing the sampler; Tune asks
    it from one thread. The study's system attributes keep NSGA-II's own keys."""
    return _picklable_nsga2()(seed=seed)


def _picklable_nsga2():
    import threading

    import optuna

    if "PicklableNSGAIISampler" not in globals():
        def getstate(self):
            return {k: v for k, v in self.__dict__.items() if k != "_thread_lock"}

        def setstate(self, state):
            self.__dict__.update(state, _thread_lock=threading.Lock())

        base = optuna.samplers.NSGAIISampler
        cls = type("PicklableNSGAIISampler", (base,), {"__module__": __name__, "__getstate__": getstate,
                                                      "__setstate__": setstate})
        cls._GENERATION_KEY, cls._PARENT_CACHE_KEY_PREFIX = base._GENERATION_KEY, base._PARENT_CACHE_KEY_PREFIX
        globals()["PicklableNSGAIISampler"] = cls
    return globals()["PicklableNSGAIISampler"]


def bounded_tpe_sampler(history: int, **tpe):
    """Optuna's TPESampler (`tpe`: its arguments) modelling at most `history` finished trials: the best
    quarter of them (single objective) and the most recent rest, with every running one (the constant liar).

    TPE's cost per suggestion grows with every finished trial it models (Optuna has no option to bound
    it); the study still holds every trial. TPE reads trials only through Study._get_trials inside
    TPESampler._sample: the override hands it a view of the study that returns the bounded list.
    """
    return _bounded_tpe()(history, **tpe)


class _RecentTrials:
    """A study as TPESampler._sample reads it, limited to `history` finished trials."""

    def __init__(self, study, history: int):
        self._study, self._history = study, history

    def __getattr__(self, name):
        return getattr(self._study, name)

    def _get_trials(self, deepcopy=False, states=None, use_cache=False):
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        finished = [t for t in trials if t.state.is_finished()]
        if len(finished) <= self._history:
            return trials
        kept = set()
        if len(self._study.directions) == 1:
            import optuna

            scored = [t for t in finished if t.value is not None]
            scored.sort(key=lambda t: t.value, reverse=self._study.direction == optuna.study.StudyDirection.MAXIMIZE)
            kept = {t.number for t in scored[:self._history // 4]}
        recent = [t.number for t in finished if t.number not in kept][-(self._history - len(kept)):]
        kept.update(recent)
        return [t for t in trials if not t.state.is_finished() or t.number in kept]


def _bounded_tpe():
    import optuna

    if "BoundedTPESampler" not in globals():
        base = optuna.samplers.TPESampler

        def __init__(self, history, **tpe):
            base.__init__(self, **tpe)
            self._history = history

        def _sample(self, study, trial, search_space):
            return base._sample(self, _RecentTrials(study, self._history), trial, search_space)

        globals()["BoundedTPESampler"] = type("BoundedTPESampler", (base,), {
            "__module__": __name__, "__init__": __init__, "_sample": _sample})
    return globals()["BoundedTPESampler"]


def __getattr__(name):
    # Unpickling a sampler in a fresh process looks the class up here before anything made it.
    if name == "PicklableNSGAIISampler":
        return _picklable_nsga2()
    if name == "BoundedTPESampler":
        return _bounded_tpe()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

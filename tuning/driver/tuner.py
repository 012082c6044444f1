"""The driver: preflight a validated sweep, start Ray, build the Tuner and run it.

Everything that can fail because of the user's input fails here, before any trial starts.
"""

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import yaml

from tuning.driver.resume import study_storage
from tuning.driver.warm_start import warm_start_points
from tuning.errors import UserError
from tuning.expdir import SWEEP_FILE
from tuning.sweep import flavour
from tuning.sweep.config import SweepConfig, parse_sweep
from tuning.trial import prepare


def check_sweep(cfg: SweepConfig) -> str:
    """Bad input is found before anything starts: classes and arguments, read from source where it can.

    Returns the sweep's Lightning distribution (tuning.sweep.flavour).
    """
    from tuning.driver.tracking import check_tracking
    from tuning.sweep.classes import check_classes

    check_tracking(cfg)  # a tracking server that does not answer, before anything starts
    return check_classes(cfg, static=True).flavour


def start_ray(address: str | None = None, preload: tuple[str, ...] = ()) -> None:
    """Connect to `address`, or start a local Ray that listens on 127.0.0.1 only, without a dashboard.

    `preload`: modules every worker of a local Ray imports as it starts. Ray starts a worker per CPU
    when the driver connects, so trials begin with Lightning imported (seconds per worker) while the
    driver still prepares the data; Tune's trial actors take those warm workers.
    """

    import ray

    from tuning.compat import ray as ray_compat

    if address not in (None, "auto"):
        from tuning.driver.placement import check_address

        check_address(address)
    if ray.is_initialized():
        return
    # Trials resolve relative paths and import the user's modules from where `tuning` was started.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    if address is None:
        if preload:  # read by the raylet as it starts
            os.environ.setdefault("RAY_preload_python_modules", ",".join(preload))
            # The raylet ends workers idle for more than 1 s once it counts more than one per CPU: a
            # warm worker still importing Lightning when Tune's first trials asked for theirs was ended
            # and the trials waited for cold ones (1 start in 5 measured, 4 s later first epoch).
            os.environ.setdefault("RAY_idle_worker_killing_time_threshold_ms", "60000")
        _inherit_trial_environment()
        # Without this Ray binds its ports on every interface (README, "How it runs"). Ray's own
        # processes started below inherit the environment.
        ray_compat.bind_ray_to_loopback()
    # "local" always starts a fresh instance; a bare ray.init() would join the last `ray start` cluster.
    # Ray sets its own SIGTERM handlers as it starts (its Python one exits 15, its core worker's dumps its stack
    # and aborts): one the command set before (tuning.cli: SIGTERM as Ctrl-C) is put back over them, and a
    # SIGTERM while Ray starts, which ray.init turns into SystemExit (its only one), is an interruption too.
    own = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    own = own if callable(own) else None
    try:
        with ray_compat.lean_head_node() if address is None else contextlib.nullcontext():
            ray.init(
                address=address or "local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
            )
    except SystemExit:
        if own is not None:
            raise KeyboardInterrupt from None
        raise
    finally:
        if own is not None:
            signal.signal(signal.SIGTERM, own)


def _inherit_trial_environment() -> None:
    """Trial actors of a local Ray get Tune's environment variables by inheritance, not a runtime_env.

    Tune gives each trial actor `runtime_env={"env_vars": ...}` (PL_DISABLE_FORK and variables it
    propagates from the driver). Ray starts a fresh, cold worker for any runtime_env, so trials would
    never use the warm workers started with Ray. A local Ray's workers inherit this process's
    environment, so the variables are set here and Tune's lists emptied (measured: 2 trial actors
    ready in 0.2 s instead of 6 s). Not on a cluster: other nodes do not inherit it.
    """

    from tuning.compat import tune as tune_compat

    for name, value in tune_compat.take_tune_trial_env().items():
        os.environ.setdefault(name, value)


def worker_preload(cfg: SweepConfig, dist: str = flavour.DEFAULT, cpus: int | None = None) -> tuple[str, ...]:
    """What the workers a local Ray starts import first: Lightning, when most of them will run trials.

    Ray starts one worker per CPU, and an idle worker holding Lightning keeps ~470 MB (340 MB its
    own): on a machine with many more CPUs than the sweep runs trials at once, they would mostly
    wait, so nothing is preloaded (trials then import Lightning themselves). Not for a synthetic
    objective. `dist`: the sweep's Lightning distribution. Ray Tune too: its import (0.5 s) would
    otherwise come with each worker's first trial; and LightningCLI's parser, which builds the trial's
    model and data (tuning.sweep.build; 0.4 s).
    """
    cpus = cpus or os.cpu_count() or 1
    concurrent = min(cfg.resources.max_concurrent or cpus, max(1, int(cpus // max(cfg.resources.cpu, 1))))
    if cfg.objective is not None or cpus > 2 * concurrent:
        return ()
    return (dist, f"{dist}.cli", "ray.tune")


def build_tuner(cfg: SweepConfig, exp_dir: Path, dist: str = flavour.DEFAULT, warm_start=(), baseline=None):
    """A Tuner for the sweep: the trial function, searcher, scheduler, resources, storage and checkpoints.

    `warm_start`: points of earlier trials for the searcher (see tuning.driver.warm_start); `baseline`: the
    base configuration's point, run first (tuning.driver.baseline).
    """
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from tuning.driver.budget import install as install_budget
    from tuning.driver.placement import PendingNotice
    from tuning.driver.progress import Progress
    from tuning.driver.tracking import tracking_callbacks
    from tuning.driver.trim import ForgetFinished
    from tuning.expdir import budget
    from tuning.search.pareto import compared, objectives
    from tuning.search.schedulers import SCHEDULERS, make_scheduler
    from tuning.search.searchers import SEARCHERS, make_searcher
    from tuning.sweep.space import is_conditional, to_param_space
    from tuning.trial import trial_dirname

    search, res = cfg.search, cfg.resources
    if baseline is not None:
        from tuning.driver.baseline import first_in_search

        search = first_in_search(search, baseline)
    metric, mode = compared(search)  # with several objectives, only the searcher sees them all
    tune_environment()
    as_grid = SEARCHERS[search.searcher.name].as_grid
    storage = study_storage(search.searcher.name, exp_dir)
    searcher = make_searcher(
        search,
        cfg.run.seed,
        warm_start=warm_start,
        max_concurrent=res.max_concurrent,
        storage=storage,
        budget=functools.partial(budget, cfg.to_dict()),
        experiment=str(exp_dir),
    )
    # Ray's HyperBand can pause a trial that reached the budget and never resume or end it (the sweep then
    # spins forever; ray#6780, ray PR #39157): a trial at the budget is ended by Tune before HyperBand decides.
    stop = {"training_iteration": cfg.max_epochs} if SCHEDULERS[search.scheduler.name].stop_at_budget else None
    # search.budget / search.stop: the searcher asks the budget before each trial, a stopper ends the sweep
    searcher, stop, enforced = install_budget(cfg, exp_dir, searcher, storage, stop)
    tune_config = tune.TuneConfig(
        # a conditional space's searcher counts its own grid points: Tune asks it for every trial
        metric=metric,
        mode=mode,
        num_samples=expected_trials(cfg) if is_conditional(search.space) else search.num_samples,
        search_alg=searcher,
        scheduler=make_scheduler(search.scheduler, cfg.max_epochs, search.space),
        # A stopped DDP trial's actor is ended, not reused: its Ray Train workers end with it.
        max_concurrent_trials=res.max_concurrent,
        reuse_actors=res.workers == 1,
        trial_dirname_creator=trial_dirname,
    )
    run_config = tune.RunConfig(
        # cfg.run.storage may be a URI (s3://...), which a Path cannot hold: run_sweep resolved both.
        name=cfg.name,
        storage_path=cfg.run.storage,
        verbose=0,
        stop=stop,
        callbacks=[
            JsonLoggerCallback(),
            CSVLoggerCallback(),
            PendingNotice(),
            ForgetFinished(tuple(m for m, _ in objectives(search))),
            Progress(search.metric, search.mode, expected_trials(cfg)),
            *tracking_callbacks(cfg, exp_dir),  # track.mlflow: a parent run, a child per trial
            *enforced,
        ],
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=cfg.run.keep_checkpoints, checkpoint_score_attribute=metric, checkpoint_score_order=mode
        ),
        failure_config=tune.FailureConfig(max_failures=cfg.run.max_failures),
        sync_config=tune.SyncConfig(sync_artifacts=True),
    )
    return tune.Tuner(
        make_trainable(cfg, dist),
        param_space=to_param_space(search.space, as_grid),
        tune_config=tune_config,
        run_config=run_config,
    )


def tune_environment() -> None:
    """Tune settings from the environment, the same for a run and its resumes."""

    from tuning.compat import tune as tune_compat

    # Tune's own TensorBoard logger would duplicate Lightning's; keep the JSON/CSV files the report reads.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Snapshots after each kept checkpoint are expected with small num_to_keep; Tune warns about each.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's console tables are replaced by ProgressLines; the old output engine honours verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # The report ranks a trial at the earliest epoch of its best value: with a running best (`val/acc_best`,
    # equal for the epochs after it stops improving) Tune must keep that epoch's checkpoint, not a later
    # tie's, for `export` to give the model that scored.
    tune_compat.earliest_checkpoint_wins_ties()


def make_trainable(cfg: SweepConfig, dist: str = flavour.DEFAULT):
    """The trial function with the resolved sweep bound and its resources: built alike by run and resume.

    `dist`: the sweep's Lightning distribution, which the trials import first.
    """
    from ray import tune

    from tuning.driver.placement import trial_resources
    from tuning.trial import run_trial

    if cfg.objective is not None:  # milliseconds per trial: no torch or Lightning in the worker
        from tuning.search.synthetic import run_objective

        trainable = tune.with_parameters(run_objective, objective=cfg.objective.model_dump(), seed=cfg.run.seed)
        return tune.with_resources(trainable, trial_resources(cfg.resources))
    trainable = tune.with_parameters(run_trial, sweep={**cfg.to_dict(), "lightning": dist})
    if cfg.resources.workers > 1:
        from tuning.trial import driver_resources

        return tune.with_resources(trainable, driver_resources())
    return tune.with_resources(trainable, trial_resources(cfg.resources))


def expected_trials(cfg: SweepConfig) -> int:
    """How many trials the finished sweep has: num_samples, times the grid size for the grid searcher."""
    from tuning.search.searchers import SEARCHERS
    from tuning.sweep.space import grid_size

    return cfg.search.num_samples * grid_size(cfg.search.space, SEARCHERS[cfg.search.searcher.name].as_grid)


def fit(tuner, cfg: SweepConfig, exp_dir, command: str = "run", baseline: dict | None = None) -> None:
    """Run the Tuner; when stopped early (Ctrl-C, SIGTERM) the state is kept and the resume command printed.
    `baseline`: what tuning.driver.baseline.decide found, recorded in environment.json."""
    from tuning.driver.environment import record_baseline, record_end, record_start
    from tuning.driver.resume import resume_hint
    from tuning.driver.study import write_ranks
    from tuning.driver.tracking import finish_tracking

    record_start(exp_dir, command)
    if baseline is not None:
        record_baseline(exp_dir, baseline)
    stop = _StopOnSignal() if threading.current_thread() is threading.main_thread() else None
    outcome = "failed"
    try:
        tuner.fit()
        outcome = "interrupted" if stop and stop.requested else "finished"
        if outcome == "finished":
            _settle_at_the_end(exp_dir)
    except KeyboardInterrupt:  # a second Ctrl-C cuts Tune's clean stop short; the last snapshot remains
        outcome = "interrupted"
        raise
    finally:
        if stop:
            stop.restore()
        record_end(exp_dir, outcome)
        finish_tracking(cfg, exp_dir, outcome)  # track.mlflow: ranks, report and best checkpoint; never raises
        write_ranks(exp_dir, outcome)  # finished: the report's rank on each study trial (tuning dashboard)
        if not isinstance(exp_dir, Path):  # its last state is published; a resume downloads it afresh
            from tuning.driver.study import discard

            discard(exp_dir)
        if outcome == "interrupted":
            resume_hint(exp_dir, command)
    if outcome == "interrupted":
        raise KeyboardInterrupt


def _settle_at_the_end(exp_dir) -> None:
    """A proposal Tune never ran (asked as the sweep ended) is not left RUNNING in the study."""
    from tuning.driver.resume import settle_orphans

    if isinstance(exp_dir, Path):
        settle_orphans(exp_dir)
        return
    from tuning.driver.study import live_path, publish

    # Tune's state is read from the storage: at the end every trial is final, so nothing else is needed there.
    if live_path(exp_dir).is_file() and settle_orphans(exp_dir, live_path(exp_dir)):
        publish(exp_dir)


class _StopOnSignal:
    """Ctrl-C and SIGTERM ask Tune for its clean stop (state saved first) and remember that they did.

    Tune's own SIGINT handler would leave no trace of the stop: a sweep that ended with trials
    still paused (HyperBand) would look the same as one cut short. Tune always listens on SIGUSR1
    for the same clean stop, so our handler forwards to it; a second signal interrupts at once.
    """

    def __init__(self):
        self.requested = False
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        self.previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        os.kill(os.getpid(), signal.SIGUSR1)

    def restore(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def resume_sweep(experiment: str, address: str | None = None, retry_errored: bool = True, more: int = 0, overrides=()):
    """Continue an interrupted sweep: finished trials stay, unfinished ones go on from their last checkpoint.
    With `more`, the sweep (finished or not) gets that many trials beyond its num_samples. `experiment`: a
    path or a URI (tuning.driver.uri_resume); returns the experiment's Path, or the URI. The experiment's lock
    (tuning.driver.lock) is held from before the first change to the end: a second driver is refused.
    `overrides`: `--set` of search.budget.* and search.stop.* (tuning.driver.budget)."""
    from ray import tune

    from tuning.compat import tune as tune_compat
    from tuning.driver import budget_resume as sweep_budget
    from tuning.driver.lock import driver_lock
    from tuning.driver.resume import check_more
    from tuning.stored import restoring

    exp_dir, local, cfg, repair = _open_experiment(experiment)
    if more:
        check_more(cfg, more)
    cfg = sweep_budget.with_overrides(cfg, list(overrides))  # bad keys and spent budgets: before any change
    sweep_budget.check_continue(local, cfg, more, changed=bool(overrides))
    command = f"resume --more {more}" if more else "resume"
    # restoring(): the experiment's pickles may name our classes where an earlier layout kept them (tuning.stored)
    with driver_lock(exp_dir, command), restoring():
        dist = check_sweep(cfg)
        if address is None:
            check_local_resources(cfg)
        repair()
        start_ray(address, worker_preload(cfg, dist))
        tune_compat.drop_stale_staging(str(exp_dir))  # an earlier run's copies in this session beat the repairs
        prepare(cfg)
        tune_environment()
        tuner = tune.Tuner.restore(
            str(exp_dir), trainable=make_trainable(cfg, dist), resume_unfinished=True, resume_errored=retry_errored
        )
        if more:  # last: a --more refused or interrupted before this point leaves num_samples as it was
            cfg = _extend(exp_dir, local, cfg, more)
        cfg = sweep_budget.continue_sweep(exp_dir, local, cfg, list(overrides), more)  # a raised budget
        fit(tuner, cfg, exp_dir, command)
    return exp_dir


def _extend(exp_dir, local: Path, cfg: SweepConfig, more: int) -> SweepConfig:
    """`more` trials more in Tune's search state and sweep.yaml (tuning.driver.resume.extend), on the experiment or,
    for a URI, on its local copy and uploaded before Tune's fit reads them."""
    from tuning.driver.resume import extend

    if isinstance(exp_dir, Path):
        extended = extend(local, cfg, more)
    else:
        from tuning.driver.uri_resume import digests, write_back

        before = digests(local)
        extended = extend(local, cfg, more)
        write_back(local, before, exp_dir)
    print(f"extending the sweep by {more} trials, to {expected_trials(extended)}", file=sys.stderr, flush=True)
    return extended


def _open_experiment(experiment: str):
    """(the experiment: a Path or the URI, the local directory the checks and repairs work on, its sweep, the
    crash repairs to run before Tune's restore) for a path or a URI (tuning.driver.uri_resume)."""
    from tuning.storage import is_uri

    if not is_uri(experiment):
        from tuning.driver.resume import load_experiment, repair

        exp_dir, cfg = load_experiment(experiment)
        return exp_dir, exp_dir, cfg, functools.partial(repair, exp_dir)
    from tuning.driver.uri_resume import digests, load_uri_experiment, repair_uri

    location = experiment.rstrip("/")
    local, cfg = load_uri_experiment(location)
    return location, local, cfg, functools.partial(repair_uri, location, local, digests(local))


def _continue_existing(cfg: SweepConfig, location: str, address: str | None) -> Path | None:
    """Resume the experiment at `location` if it was started from this very sweep; else a UserError. None when
    that start stopped before Ray Tune saved any state (a job restarted early): the caller starts it again there."""
    from tuning.expdir import ExpDir, has_snapshot

    exp = ExpDir(location)
    # through the schema: keys a later version added (with their defaults) do not make it another sweep
    recorded, this = parse_sweep(exp.sweep()).to_dict(), cfg.to_dict()
    if recorded != this:
        differs = next((k for k in {**recorded, **this} if recorded.get(k) != this.get(k)), "?")
        raise UserError(
            f"--resume-existing: {location} holds another sweep (its {differs} differs); "
            "it continues only the sweep that started it (nothing was overwritten)"
        )
    if not has_snapshot(exp):
        print(
            f"starting the existing experiment {location} again: its first start stopped before Ray Tune "
            "saved any state",
            file=sys.stderr,
            flush=True,
        )
        return None
    print(f"continuing the existing experiment {location}", file=sys.stderr, flush=True)
    return resume_sweep(location, address)


def _cluster_preflight(cfg: SweepConfig) -> None:
    """On a cluster: every node must reach the storage; say what the cluster has room for."""
    from tuning.driver.placement import describe_cluster
    from tuning.storage import check_nodes

    nodes = check_nodes(cfg.run.storage)
    print(f"storage {cfg.run.storage}: reachable from all {nodes} nodes", flush=True)
    print(describe_cluster(cfg.resources), flush=True)


def check_local_resources(cfg: SweepConfig) -> None:
    """A local sweep asking a trial for more than this machine has is bad input, not trials pending forever."""
    res, cpus = cfg.resources, os.cpu_count() or 1
    if res.gpu > 0:
        import torch

        if torch.cuda.device_count() == 0:
            raise UserError(
                f"resources.gpu: {res.gpu} per trial, but this machine has no GPU that torch "
                "can use: run on a cluster that has them (--address), or set resources.gpu: 0 and "
                "trainer.accelerator: cpu"
            )
        if res.gpu * res.workers > torch.cuda.device_count():
            raise UserError(
                f"resources.gpu: {res.gpu} per worker x {res.workers} workers, but this machine has "
                f"{torch.cuda.device_count()} GPUs: no trial could start"
            )
    if res.cpu * res.workers > cpus:
        raise UserError(
            f"resources.cpu: {res.cpu:g} per worker x {res.workers} workers, but this machine has {cpus} "
            "CPUs: no trial could start; lower resources.cpu (or workers), or run on a cluster (--address)"
        )
    if res.custom:
        name = next(iter(res.custom))
        raise UserError(
            f"resources.custom.{name}: a custom resource is a cluster node's label, and a local sweep's "
            "Ray has none: no trial could start; leave it out, or run on a cluster (--address)"
        )
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    if res.memory * res.workers > total:
        raise UserError(
            f"resources.memory: {res.memory:g} GiB per worker x {res.workers} workers, but this machine "
            f"has {total:.1f} GiB: no trial could start"
        )


def run_sweep(
    cfg: SweepConfig,
    storage: str | None = None,
    name: str | None = None,
    address: str | None = None,
    resume_existing: bool = False,
) -> Path:
    """Run the sweep to the end and return its experiment directory.

    An existing experiment is refused, unless `resume_existing` and it holds this same sweep: then it is
    continued as `tuning resume` would (what a cluster job that was restarted needs).
    """
    from tuning import storage as store
    from tuning.driver.baseline import decide
    from tuning.driver.lock import driver_lock

    location = store.experiment_location(storage or cfg.run.storage, name or cfg.name)
    store.check_writable(location, "--storage" if storage else "run.storage")
    base, exp_name = location.rsplit("/", 1)
    cfg = cfg.model_copy(update={"name": exp_name, "run": cfg.run.model_copy(update={"storage": base})})
    again = False  # the same sweep started again where its first start saved nothing
    if store.is_nonempty(location):
        if not resume_existing:
            raise UserError(
                f"experiment directory {location} already exists and is not empty; "
                "choose another with --name or --storage (nothing was overwritten)"
            )
        continued = _continue_existing(cfg, location, address)
        if continued is not None:
            return continued
        again = True
    dist = check_sweep(cfg)
    if address is None:
        check_local_resources(cfg)
    warm_start = warm_start_points(cfg.search.warm_start, cfg.search)
    start_ray(address, worker_preload(cfg, dist))  # before the data: workers import Lightning meanwhile
    prepare(cfg)
    baseline = decide(cfg, dist)  # after prepare: a class default it reads may need the class imported
    if address is not None:
        _cluster_preflight(cfg)
    if not again:  # else its sweep.yaml, the same sweep (checked), is there already
        store.claim(f"{location}/{SWEEP_FILE}", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    exp_dir = location if store.is_uri(location) else Path(location)
    with driver_lock(exp_dir, "run"):  # see resume_sweep
        point = baseline and baseline["config"]
        fit(build_tuner(cfg, exp_dir, dist, warm_start, point), cfg, exp_dir, baseline=baseline)
    return exp_dir

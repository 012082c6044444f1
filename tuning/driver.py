"""The driver: preflight a validated sweep, start Ray, build the Tuner and run it.

Everything that can fail because of the user's input fails here, before any trial starts.
"""

import logging
import math
import os
from pathlib import Path

import yaml

from tuning.config import SweepConfig
from tuning.errors import UserError

SWEEP_FILE = "sweep.yaml"  # the resolved sweep, written into every experiment directory


def experiment_dir(cfg: SweepConfig, storage: str | None = None, name: str | None = None) -> Path:
    """`<storage>/<name>`, absolute; flags win over the sweep file."""
    return (Path(storage or cfg.run.storage).expanduser() / (name or cfg.name)).resolve()


def preflight(cfg: SweepConfig, check_metric: bool = True) -> None:
    """Check classes and arguments, prepare data once, in the driver, then check the metric contract."""
    from tuning.classes import check_classes
    from tuning.trial import build

    check_classes(cfg)
    try:
        datamodule = build(cfg.data.model_dump(), "data")
    except (TypeError, ValueError, OSError) as exc:
        raise UserError(f"data: {cfg.data.class_path} could not be built from data.init_args: {exc}") from None
    datamodule.prepare_data()
    if check_metric:
        from tuning import metric_preflight

        metric_preflight.check_metric(cfg)


def start_ray(address: str | None = None) -> None:
    """Connect to `address`, or start a local Ray that listens on 127.0.0.1 only, without a dashboard."""
    import ray

    if ray.is_initialized():
        return
    # Trials resolve relative paths and import the user's modules from where `tuning` was started.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    if address is None:
        # Without this Ray binds its ports on every interface (DESIGN.md, "Running Ray"). Ray reads the
        # variable once, at import, and may be imported already: set the constant too. Ray's own
        # processes started below inherit the environment.
        from ray._private import ray_constants

        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        ray_constants.ENABLE_RAY_CLUSTER = False
    # "local" always starts a fresh instance; a bare ray.init() would join the last `ray start` cluster.
    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)


def build_tuner(cfg: SweepConfig, exp_dir: Path):
    """A Tuner for the sweep: the trial function, searcher, scheduler, resources, storage and checkpoints."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from tuning.progress import Progress
    from tuning.schedulers import make_scheduler
    from tuning.searchers import make_searcher
    from tuning.space import to_param_space
    from tuning.trial import run_trial, trial_dirname

    search, res = cfg.search, cfg.resources
    # Tune's own TensorBoard logger would duplicate Lightning's; keep the JSON/CSV files the report reads.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Snapshots after each kept checkpoint are expected with small num_to_keep; Tune warns about each.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's console tables are replaced by ProgressLines; the old output engine honours verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    trainable = tune.with_resources(tune.with_parameters(run_trial, sweep=cfg.to_dict()),
                                    {"cpu": res.cpu, "gpu": res.gpu})
    grid_size = math.prod(d.size for d in search.space.values() if d.kind == "grid")
    tune_config = tune.TuneConfig(
        metric=search.metric, mode=search.mode, num_samples=search.num_samples,
        search_alg=make_searcher(search, cfg.run.seed), scheduler=make_scheduler(search.scheduler, cfg.max_epochs),
        max_concurrent_trials=res.max_concurrent, reuse_actors=True, trial_dirname_creator=trial_dirname)
    run_config = tune.RunConfig(
        name=exp_dir.name, storage_path=str(exp_dir.parent), verbose=0,
        callbacks=[JsonLoggerCallback(), CSVLoggerCallback(),
                   Progress(search.metric, search.mode, search.num_samples * grid_size)],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=cfg.run.keep_checkpoints,
                                                checkpoint_score_attribute=search.metric,
                                                checkpoint_score_order=search.mode),
        failure_config=tune.FailureConfig(max_failures=cfg.run.max_failures),
        sync_config=tune.SyncConfig(sync_artifacts=True))
    return tune.Tuner(trainable, param_space=to_param_space(search.space), tune_config=tune_config,
                      run_config=run_config)


def run_sweep(cfg: SweepConfig, storage: str | None = None, name: str | None = None,
              address: str | None = None) -> Path:
    """Run the sweep to the end and return its experiment directory."""
    exp_dir = experiment_dir(cfg, storage, name)
    if exp_dir.exists() and any(exp_dir.iterdir()):
        raise UserError(f"experiment directory {exp_dir} already exists and is not empty; "
                        "choose another with --name or --storage (nothing was overwritten)")
    cfg = cfg.model_copy(update={"name": exp_dir.name,
                                 "run": cfg.run.model_copy(update={"storage": str(exp_dir.parent)})})
    preflight(cfg)
    exp_dir.mkdir(parents=True, exist_ok=True)
    (exp_dir / SWEEP_FILE).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    start_ray(address)
    build_tuner(cfg, exp_dir).fit()
    return exp_dir

"""One trial: build the DataModule, LightningModule and Trainer from the resolved sweep and fit.

Runs inside a Ray Tune worker. It gets the sampled params (flat dotted keys) and the
resolved sweep as a plain dict; it never parses YAML and never talks to the CLI.
"""

import json
import logging
import os
import socket
import zlib

from tuning.compat import lightning as lightning_compat
from tuning.expdir import CHECKPOINT_FILE, TRIAL_FILE
from tuning.sweep import flavour, lightning_cli


def trial_dirname(trial) -> str:
    """`trial_<index>_<id>`: Tune numbers trials in creation order at the start of their tag."""
    index = trial.experiment_tag.split("_")[0]
    return f"trial_{int(index):04d}_{trial.trial_id}" if index.isdigit() else f"trial_{trial.trial_id}"


def trial_seed(run_seed: int, trial_dir: str) -> int:
    """run.seed plus the trial's index: the same seeds on every rerun of a sweep.

    (Trial ids are random with most searchers, so they cannot give reproducible seeds.)
    """
    parts = os.path.basename(trial_dir).split("_")
    # Tune's variant generator's trial ids hold an underscore themselves (edce0_00000).
    index = parts[1] if len(parts) >= 3 and parts[0] == "trial" and parts[1].isdigit() else None
    return run_seed + (int(index) if index else zlib.crc32(parts[-1].encode()) % 100_000)


def trial_logger(dist: str, trial_dir: str, params: dict | None, metric: str | None):
    """TensorBoard in `<trial>/tensorboard`; the hparams plugin gets the trial's sampled params too.

    Lightning logs the module's and datamodule's hparams once at fit start; the sampled dotted keys
    (`model.init_args.lr`) are added so TensorBoard's HParams tab lines up trials by what was searched,
    against the sweep's metric. (Lightning writes the hparams plugin only with a placeholder
    `hp_metric` scalar, so the plugin's summaries are written here instead.)
    """
    pl = flavour.module(dist)
    fabric_logger = flavour.fabric(dist, "utilities.logger")

    class TrialLogger(pl.loggers.TensorBoardLogger):
        @pl.utilities.rank_zero_only
        def log_hyperparams(self, hparams, metrics=None, step=None):
            merged = {**lightning_compat.convert_params(fabric_logger, hparams or {}), **(params or {})}
            super().log_hyperparams(merged, metrics, step)
            if metrics is None and metric:
                from torch.utils.tensorboard.summary import hparams as hparams_summaries

                flat = lightning_compat.flat_hparams(fabric_logger, self, merged)
                for summary in hparams_summaries(flat, {metric: 0.0}):  # only the metric's name is used
                    lightning_compat.write_summary(self, summary)

    return TrialLogger(trial_dir, name="tensorboard", version="", default_hp_metric=False)


def report_hook(trainer_args: dict) -> str:
    """When a trial reports and checkpoints: `train_epoch_end`, or `validation_end` if validation is not once an epoch.

    As Lightning's ModelCheckpoint decides: a checkpoint taken at the end of the training epoch
    restores to the start of the next epoch, while one taken at validation end restores into the
    unfinished epoch (Lightning then ends that epoch without validating, and EarlyStopping fails).
    """
    interval = trainer_args.get("val_check_interval")
    once_per_epoch = (interval is None or (isinstance(interval, float) and interval == 1.0)) and trainer_args.get(
        "check_val_every_n_epoch", 1
    ) == 1
    return "train_epoch_end" if once_per_epoch else "validation_end"


def epoch_report(
    dist: str, on: str, report, mean_over_ranks: bool = False, checkpoints: bool = True, class_path: bool = True
):
    """A Lightning checkpoint callback that reports every scalar metric once per epoch (or validation) to Ray.

    `report` is `ray.tune.report` (a trial) or `ray.train.report` (a DDP worker); each report carries
    a checkpoint that rank 0 wrote, unless `checkpoints` is False; its hyperparameters name the module's
    class for LightningCLI unless `class_path` is False (a CLI with fixed classes reads them bare).
    With `mean_over_ranks` the metrics are averaged over the DDP ranks: each rank's value is a sample-weighted
    mean over its shard, and DistributedSampler gives every rank the same number of samples, so the mean over
    ranks is the mean over the whole (padded) validation set, also for modules that log without `sync_dist=True`.
    As a `Checkpoint`, Lightning runs it after all other callbacks (EarlyStopping too) at epoch end,
    so the checkpoint holds EarlyStopping's state after this epoch's check and a restored trial stops
    where the uninterrupted one would.
    """
    pl = flavour.module(dist)

    class EpochReport(pl.callbacks.Checkpoint):
        validates = False  # whether this fit has validated yet (a module without validation never does)
        validated = False  # since the last report

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self.validates = self.validated = True
                if on == "validation_end":
                    self.report(trainer)

        def on_train_epoch_end(self, trainer, pl_module):
            # An epoch that max_steps or max_time cut short ends without validating: its validation
            # metrics would be the previous epoch's again, so it is not reported.
            if on == "train_epoch_end" and (self.validated or not self.validates):
                self.report(trainer)

        def on_save_checkpoint(self, trainer, pl_module, checkpoint):
            # LightningCLI's `validate/test/predict --ckpt_path` reads the module's class from here
            # (it writes the key itself when it builds the module); load_from_checkpoint ignores it.
            if "hyper_parameters" in checkpoint and class_path:
                cls = type(pl_module)
                checkpoint["hyper_parameters"].setdefault("_class_path", f"{cls.__module__}.{cls.__qualname__}")

        def report(self, trainer):
            import tempfile

            from ray.tune import Checkpoint

            self.validated = False
            metrics = _scalar_metrics(trainer, mean_over_ranks)
            ended_by = fit_ends_after(trainer, on)
            if ended_by:  # the last report: the report and the study tell it from a scheduler's stop
                metrics["ended_by"] = ended_by
            if not checkpoints:
                return report(metrics)
            # Before the report: a scheduler that stops the trial at this report (ASHA at max_t or a rung)
            # ends it inside `report`, and nothing after it runs.
            if not mean_over_ranks:  # a trial of one process; DDP ranks report through Ray Train instead
                drop_deleted_checkpoints(dist, trainer)
            with tempfile.TemporaryDirectory() as tmp:
                trainer.save_checkpoint(os.path.join(tmp, CHECKPOINT_FILE))  # every rank calls; rank 0 writes
                report(metrics, checkpoint=Checkpoint.from_directory(tmp) if trainer.global_rank == 0 else None)

    return EpochReport()


def drop_deleted_checkpoints(dist: str, trainer) -> None:
    """What a user's ModelCheckpoint deleted (its `save_top_k`) is deleted from the storage too.

    Tune's artifact sync copies the trial directory to the storage but never deletes there, so every
    file a ModelCheckpoint ever wrote would stay. Runs before each report, when the epoch's checkpoint
    callbacks (Lightning runs them before the report's) have all saved and deleted, and once more after
    the fit; dirpaths outside the trial directory are the user's own and left alone.
    """
    from pyarrow import fs
    from ray import tune

    model_checkpoint = flavour.module(dist).callbacks.ModelCheckpoint
    storage = tune.get_context().get_storage()
    local = os.path.abspath(storage.trial_working_directory)
    dirs = {
        os.path.abspath(cb.dirpath)
        for cb in trainer.checkpoint_callbacks
        if isinstance(cb, model_checkpoint) and cb.dirpath
    }
    dirs = [d for d in dirs if os.path.commonpath([d, local]) == local]
    if not dirs:
        return
    # A sync still copying the trial directory could write a file back after it is deleted here. (Waiting,
    # not syncing: a sync now would copy the whole directory again, just before the report's own.)
    storage.syncer.wait()
    for directory in dirs:
        remote = f"{storage.trial_fs_path}/{os.path.relpath(directory, local)}"
        found = storage.storage_filesystem.get_file_info(fs.FileSelector(remote, allow_not_found=True))
        for entry in found:
            if entry.type == fs.FileType.File and not os.path.exists(os.path.join(directory, entry.base_name)):
                storage.storage_filesystem.delete_file(entry.path)


def fit_ends_after(trainer, on: str) -> str | None:
    """Whether the fit ends after this report, and why: `early_stopping` (a callback stopped it), `trainer` (its
    budget: max_epochs, max_steps, max_time), None (it goes on, unless Tune's scheduler stops it).

    A budget of steps that ends inside the next epoch ends the fit here: that epoch is not validated, so it is
    not reported (EpochReport). A trial with fewer reports than epochs (it reports per validation) that carries
    `ended_by: trainer` ran its whole budget; without it, it was stopped.
    """
    import math

    if trainer.should_stop:  # EarlyStopping or the Timer of max_time, both run before this callback
        stopped = [cb for cb in trainer.early_stopping_callbacks if cb.stopped_epoch == trainer.current_epoch]
        return "early_stopping" if stopped else "trainer"
    epoch_done = on == "train_epoch_end" or trainer.is_last_batch
    if trainer.max_epochs not in (None, -1) and trainer.current_epoch + 1 >= trainer.max_epochs and epoch_done:
        return "trainer"
    if trainer.max_steps not in (None, -1):
        steps_per_epoch = math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)
        if trainer.global_step >= trainer.max_steps or (
            on == "train_epoch_end" and trainer.global_step + steps_per_epoch > trainer.max_steps
        ):
            return "trainer"
    return None


def _scalar_metrics(trainer, mean_over_ranks: bool) -> dict:
    """The Trainer's scalar callback metrics as floats, optionally averaged over DDP ranks."""
    import torch
    import torch.distributed as dist

    names = sorted(k for k, v in trainer.callback_metrics.items() if v.numel() == 1)
    values = torch.tensor([float(trainer.callback_metrics[k]) for k in names], dtype=torch.float64)
    if mean_over_ranks and dist.is_available() and dist.is_initialized():
        dist.all_reduce(values)  # gloo and NCCL both sum
        values /= dist.get_world_size()
    metrics = dict(zip(names, values.tolist()))
    if mean_over_ranks:  # Ray Train's results have no epoch of their own: name it, for the checkpoint it goes with
        metrics.update(epoch=trainer.current_epoch, step=trainer.global_step)
    return metrics


def user_loggers(dist: str, entries: list[dict], trial_dir: str, who=None) -> list:
    """The sweep's own `trainer.logger` entries, each writing inside the trial directory; trackers' loggers know the
    trial `who` is (tuning.trial.loggers)."""
    from tuning.sweep.class_paths import parameters
    from tuning.sweep.classes import resolve_logger
    from tuning.trial.loggers import logger_args

    loggers = []
    for i, spec in enumerate(entries):
        cls = resolve_logger(spec["class_path"], dist, f"trainer.logger[{i}].class_path")
        args = dict(spec.get("init_args", {}))
        args = logger_args(cls, args, who) if who is not None else args
        if "save_dir" in parameters(cls).named:
            args["save_dir"] = trial_dir  # a path of the user's own would collect every trial's files in one place
        loggers.append(cls(**args))
    return loggers


def fit_from(checkpoint, trainer, model, datamodule) -> None:
    """`trainer.fit`, from the trial's own Ray checkpoint when Tune or Ray Train restored one (a retry, a
    resume, PBT's exploit), else from the start."""
    if checkpoint is None:
        trainer.fit(model, datamodule=datamodule)
        return
    with checkpoint.as_directory() as directory:
        trainer.fit(model, datamodule=datamodule, ckpt_path=os.path.join(directory, CHECKPOINT_FILE))


def cli_class_path(sweep: dict) -> bool:
    """Whether checkpoints name the module's class for LightningCLI (its subclass mode, the default)."""
    return (sweep.get("model") or {}).get("cli_form") != "fixed"


def make_trainer(
    dist: str,
    trainer_args: dict,
    trial_dir: str,
    sweep: dict | None = None,
    params: dict | None = None,
    report=None,
    **extra,
):
    """A Lightning Trainer (of distribution `dist`) that logs to TensorBoard in the trial directory and reports to Tune.

    `trainer_args` may hold `callbacks` as [{class_path, init_args}] and `profiler` as a name; `sweep`
    supplies `trial.early_stopping`; `report` replaces the Tune report callback (DDP); `extra` wins
    over `trainer_args` (strategy, devices, plugins).
    """
    from ray import tune

    from tuning.trial.callbacks import build_callbacks, make_profiler, profile_summary_callback
    from tuning.trial.loggers import identity, identity_callback
    from tuning.trial.pbt import keep_mutated_hyperparameters
    from tuning.trial.rng import rng_state

    sweep = sweep or {}
    args = {"enable_model_summary": False, "enable_checkpointing": False, **trainer_args, **extra}
    profiler = make_profiler(dist, args.pop("profiler", None), trial_dir)
    search = sweep.get("search") or {"metric": "val_loss", "mode": "min"}
    user = build_callbacks(dist, args, sweep.get("trial") or {}, search)
    args.pop("callbacks", None)
    report = report or epoch_report(dist, report_hook(args), tune.report, class_path=cli_class_path(sweep))
    who = identity(sweep, trial_dir, params)
    own_loggers = user_loggers(dist, args.pop("logger", []), trial_dir, who)
    args["enable_checkpointing"] = True  # the report is the trial's checkpoint callback; Lightning adds none
    # The report (with its checkpoint) comes last, as Lightning orders ModelCheckpoint: the checkpoint
    # then holds EarlyStopping's state after this epoch's check.
    callbacks = [
        *([profile_summary_callback(dist, trial_dir)] if profiler else []),
        *user,
        keep_mutated_hyperparameters(dist, params or {}),
        rng_state(dist),
        *filter(None, [identity_callback(dist, own_loggers, who)]),  # the trial's config to the trackers' loggers
        report,
    ]  # rng_state: retries continue the random stream
    from tuning.search.pareto import objectives

    logger = [
        trial_logger(dist, trial_dir, params, objectives(search)[0][0]),
        *own_loggers,
    ]
    return flavour.module(dist).Trainer(
        logger=logger,
        default_root_dir=trial_dir,
        profiler=profiler,
        enable_progress_bar=False,
        callbacks=callbacks,
        **args,
    )


def prepare_trial(config: dict, sweep: dict, trial_dir: str):
    """Seed, then build the DataModule and LightningModule of one trial.

    Returns (seed, sections, datamodule, model, dist): `dist` is the Lightning distribution the
    model derives from, which the trial's Trainer must come from.
    """
    import torch

    from tuning.sweep.classes import build
    from tuning.sweep.space import TRIAL_SECTIONS, apply_params

    dist = sweep.get("lightning") or flavour.DEFAULT
    logging.getLogger(dist).setLevel(logging.WARNING)
    # Data was prepared once by the driver; data modules may refuse to redo it here (data/text_cache.py).
    os.environ["TUNING_IN_TRIAL"] = "1"
    seed = trial_seed(sweep["run"]["seed"], trial_dir)
    torch.set_num_threads(max(1, int(sweep["resources"]["cpu"])))
    flavour.module(dist).seed_everything(seed, workers=True, verbose=False)
    sections = apply_params({k: sweep.get(k) for k in TRIAL_SECTIONS}, config)
    datamodule = build(sections["data"], "data") if sections["data"] else None  # None: the module's own loaders
    model = build(sections["model"], "model")
    if sections["optimizer"]:
        lightning_cli.add_configure_optimizers(model, sections["optimizer"], sections["lr_scheduler"])
    if sweep.get("ckpt_path"):  # a fine-tuning sweep; a retry's own checkpoint then replaces these weights
        lightning_cli.load_weights(model, os.path.expanduser(sweep["ckpt_path"]), sweep.get("weights_only"))
    return seed, sections, datamodule, model, flavour.of_object(model)


def trial_output_dir() -> str:
    """The trial's directory on the node it runs on; Tune syncs it to storage (SyncConfig.sync_artifacts).

    `get_trial_dir()` names the driver's copy of the trial directory: the same machine in a local
    sweep, but on another node of a cluster, files written there never reach the storage.
    """
    from ray import tune

    path = tune.get_context().get_storage().trial_working_directory  # DeveloperAPI, stable since Ray 2.7
    os.makedirs(path, exist_ok=True)
    return path


def run_one_process_trial(config: dict, sweep: dict) -> None:
    """One trial in this process: `config` holds the sampled params, `sweep` the resolved sweep."""
    from ray import tune

    trial_dir = trial_output_dir()
    seed, sections, datamodule, model, dist = prepare_trial(config, sweep, trial_dir)
    info = {}
    if (sweep.get("trial") or {}).get("auto_batch_size"):
        from tuning.trial.finders import scale_batch_size

        info["batch_size"] = scale_batch_size(
            dist, sections["trainer"], model, datamodule, sweep["trial"]["batch_size_mode"]
        )
    _record(trial_dir, seed, config, **info)
    # A fractional GPU (0.25 packs four trials on one GPU) is still one device to Lightning.
    devices = {"devices": 1} if sweep["resources"]["gpu"] > 0 else {}
    trainer = make_trainer(dist, sections["trainer"], trial_dir, sweep, config, **devices)
    fit_from(tune.get_checkpoint(), trainer, model, datamodule)
    if trainer.profiler is not None and trainer.is_global_zero:  # the final summary, after the profiler's report
        from tuning.trial.callbacks import write_profile_summary

        write_profile_summary(trainer.profiler, trial_dir)
    # Files written after the last report (Lightning's final logs, the profile summary) reach the storage
    # only through this sync: Tune's own at the trial's end may run before they are written.
    tune.get_context().get_storage().persist_artifacts(force=True)
    drop_deleted_checkpoints(dist, trainer)


def _record(trial_dir: str, seed: int, params: dict, **more) -> None:
    """Write what the report needs to know about this trial beyond its metrics."""
    import ray

    info = {
        "seed": seed,
        "params": params,
        "hostname": socket.gethostname(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "pid": os.getpid(),
        **more,
    }
    os.makedirs(trial_dir, exist_ok=True)
    with open(os.path.join(trial_dir, TRIAL_FILE), "w") as fh:
        json.dump(info, fh, indent=1)

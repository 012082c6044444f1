"""One trial: build the DataModule, LightningModule and Trainer from the resolved sweep and fit.

Runs inside a Ray Tune worker. It gets the sampled params (flat dotted keys) and the
resolved sweep as a plain dict; it never parses YAML and never talks to the CLI.
"""

import json
import logging
import os
import socket
import zlib

CHECKPOINT_FILE = "checkpoint.ckpt"
TRIAL_FILE = "trial.json"  # seed and placement of a trial, next to Tune's result files


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


def build(spec: dict, section: str):
    """Instantiate `{class_path, init_args}` (a registry name or dotted path)."""
    from tuning.classes import resolve_class

    return resolve_class(section, spec["class_path"])(**spec.get("init_args", {}))


def trial_logger(trial_dir: str, params: dict | None, metric: str | None):
    """TensorBoard in `<trial>/tensorboard`; the hparams plugin gets the trial's sampled params too.

    Lightning logs the module's and datamodule's hparams once at fit start; the sampled dotted keys
    (`model.init_args.lr`) are added so TensorBoard's HParams tab lines up trials by what was searched,
    against the sweep's metric. (Lightning writes the hparams plugin only with a placeholder
    `hp_metric` scalar, so the plugin's summaries are written here instead.)
    """
    from lightning_fabric.utilities.logger import _convert_params, _flatten_dict
    from pytorch_lightning.loggers import TensorBoardLogger
    from pytorch_lightning.utilities import rank_zero_only

    class TrialLogger(TensorBoardLogger):
        @rank_zero_only
        def log_hyperparams(self, hparams, metrics=None, step=None):
            merged = {**_convert_params(hparams or {}), **(params or {})}
            super().log_hyperparams(merged, metrics, step)
            if metrics is None and metric:
                from torch.utils.tensorboard.summary import hparams as hparams_summaries

                flat = self._sanitize_params(_flatten_dict(merged))
                for summary in hparams_summaries(flat, {metric: 0.0}):  # only the metric's name is used
                    self.experiment._get_file_writer().add_summary(summary)

    return TrialLogger(trial_dir, name="tensorboard", version="", default_hp_metric=False)


def report_hook(trainer_args: dict) -> str:
    """When a trial reports and checkpoints: `train_epoch_end`, or `validation_end` if validation is not once an epoch.

    As Lightning's ModelCheckpoint decides: a checkpoint taken at the end of the training epoch
    restores to the start of the next epoch, while one taken at validation end restores into the
    unfinished epoch (Lightning then ends that epoch without validating, and EarlyStopping fails).
    """
    interval = trainer_args.get("val_check_interval")
    once_per_epoch = (interval is None or (isinstance(interval, float) and interval == 1.0)) \
        and trainer_args.get("check_val_every_n_epoch", 1) == 1
    return "train_epoch_end" if once_per_epoch else "validation_end"


def tune_report(on: str):
    """Tune's report-with-checkpoint callback, which Lightning must treat as a checkpoint callback.

    Lightning calls checkpoint callbacks (and EarlyStopping) after all others at epoch end; as one,
    the checkpoint holds EarlyStopping's state after this epoch's check, so a restored trial stops
    where the uninterrupted one would.
    """
    from pytorch_lightning.callbacks import Checkpoint
    from ray.tune.integration.pytorch_lightning import TuneReportCheckpointCallback

    class TuneReport(TuneReportCheckpointCallback, Checkpoint):
        """Reports every logged metric once per epoch (or validation), with a checkpoint."""

    return TuneReport(filename=CHECKPOINT_FILE, on=on)


def make_trainer(trainer_args: dict, trial_dir: str, sweep: dict | None = None, params: dict | None = None,
                 report=None, **extra):
    """A Lightning Trainer that logs to TensorBoard in the trial directory and reports to Tune.

    `trainer_args` may hold `callbacks` as [{class_path, init_args}] and `profiler` as a name; `sweep`
    supplies `trial.early_stopping`; `report` replaces the Tune report callback (DDP); `extra` wins
    over `trainer_args` (strategy, devices, plugins).
    """
    import pytorch_lightning as pl

    from tuning.callbacks import build_callbacks, make_profiler, profile_summary_callback
    from tuning.rng import RngState
    from tuning.pbt import KeepMutatedHyperparameters

    sweep = sweep or {}
    args = {"enable_model_summary": False, "enable_checkpointing": False, **trainer_args, **extra}
    profiler = make_profiler(args.pop("profiler", None), trial_dir)
    user = build_callbacks(args, sweep.get("trial") or {}, sweep.get("search") or {"metric": "val_loss", "mode": "min"})
    args.pop("callbacks", None)
    report = report or tune_report(report_hook(args))
    args["enable_checkpointing"] = True  # the report is the trial's checkpoint callback; Lightning adds none
    # The report (with its checkpoint) comes last, as Lightning orders ModelCheckpoint: the checkpoint
    # then holds EarlyStopping's state after this epoch's check.
    callbacks = [*([profile_summary_callback(trial_dir)] if profiler else []), *user,
                 KeepMutatedHyperparameters(params or {}), RngState(), report]  # RngState: retries continue the random stream
    logger = trial_logger(trial_dir, params, sweep.get("search", {}).get("metric"))
    return pl.Trainer(logger=logger, default_root_dir=trial_dir, profiler=profiler,
                      enable_progress_bar=False, callbacks=callbacks, **args)


def prepare_trial(config: dict, sweep: dict, trial_dir: str, rank: int = 0):
    """Seed, then build the DataModule and LightningModule of one trial; returns (seed, sections, dm, model)."""
    import pytorch_lightning as pl
    import torch

    from tuning.space import apply_params

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    # Data was prepared once by the driver; data modules may refuse to redo it here (data/text_cache.py).
    os.environ["TUNING_IN_TRIAL"] = "1"
    seed = trial_seed(sweep["run"]["seed"], trial_dir)
    torch.set_num_threads(max(1, int(sweep["resources"]["cpu"])))
    pl.seed_everything(seed, workers=True, verbose=False)
    sections = apply_params({k: sweep[k] for k in ("model", "data", "trainer")}, config)
    datamodule = build(sections["data"], "data")
    model = build(sections["model"], "model")
    return seed, sections, datamodule, model


def trial_output_dir() -> str:
    """The trial's directory on the node it runs on; Tune syncs it to storage (SyncConfig.sync_artifacts).

    `get_trial_dir()` names the driver's copy of the trial directory: the same machine in a local
    sweep, but on another node of a cluster, files written there never reach the storage.
    """
    from ray import tune

    path = tune.get_context().get_storage().trial_working_directory  # DeveloperAPI, stable since Ray 2.7
    os.makedirs(path, exist_ok=True)
    return path


def run_trial(config: dict, sweep: dict) -> None:
    """Tune's function trainable: `config` holds the sampled params, `sweep` the resolved sweep."""
    from ray import tune

    if sweep["resources"].get("workers", 1) > 1:
        from tuning.ddp import run_ddp_trial

        return run_ddp_trial(config, sweep)
    trial_dir = trial_output_dir()
    seed, sections, datamodule, model = prepare_trial(config, sweep, trial_dir)
    info = {}
    if (sweep.get("trial") or {}).get("auto_batch_size"):
        from tuning.finders import scale_batch_size

        info["batch_size"] = scale_batch_size(sections["trainer"], model, datamodule, sweep["trial"]["batch_size_mode"])
    _record(trial_dir, seed, config, **info)
    # A fractional GPU (0.25 packs four trials on one GPU) is still one device to Lightning.
    devices = {"devices": 1} if sweep["resources"]["gpu"] > 0 else {}
    trainer = make_trainer(sections["trainer"], trial_dir, sweep, config, **devices)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        trainer.fit(model, datamodule=datamodule)
    else:
        with checkpoint.as_directory() as directory:
            trainer.fit(model, datamodule=datamodule, ckpt_path=os.path.join(directory, CHECKPOINT_FILE))
    if trainer.profiler is not None and trainer.is_global_zero:  # the final summary, after the profiler's report
        from tuning.callbacks import write_profile_summary

        write_profile_summary(trainer.profiler, trial_dir)
    # Files written after the last report (Lightning's final logs, the profile summary) reach the storage
    # only through this sync: Tune's own at the trial's end may run before they are written.
    tune.get_context().get_storage().persist_artifacts(force=True)


def _record(trial_dir: str, seed: int, params: dict, **more) -> None:
    """Write what the report needs to know about this trial beyond its metrics."""
    import ray

    info = {"seed": seed, "params": params, "hostname": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), **more}
    os.makedirs(trial_dir, exist_ok=True)
    with open(os.path.join(trial_dir, TRIAL_FILE), "w") as fh:
        json.dump(info, fh, indent=1)

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
    index = parts[1] if len(parts) == 3 and parts[1].isdigit() else None
    return run_seed + (int(index) if index else zlib.crc32(parts[-1].encode()) % 100_000)


def build(spec: dict, section: str):
    """Instantiate `{class_path, init_args}` (a registry name or dotted path)."""
    from tuning.classes import resolve_class

    return resolve_class(section, spec["class_path"])(**spec.get("init_args", {}))


def make_trainer(trainer_args: dict, trial_dir: str):
    """A Lightning Trainer that logs to TensorBoard in the trial directory and reports to Tune."""
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import TensorBoardLogger
    from ray.tune.integration.pytorch_lightning import TuneReportCheckpointCallback

    # Reports every logged metric at the end of each validation epoch, with a checkpoint.
    report = TuneReportCheckpointCallback(filename=CHECKPOINT_FILE, on="validation_end")
    args = {"enable_model_summary": False, "enable_checkpointing": False, **trainer_args}
    args["callbacks"] = [report, *args.get("callbacks", [])]
    return pl.Trainer(logger=TensorBoardLogger(trial_dir, name="tensorboard", version=""),
                      default_root_dir=trial_dir, enable_progress_bar=False, **args)


def run_trial(config: dict, sweep: dict) -> None:
    """Tune's function trainable: `config` holds the sampled params, `sweep` the resolved sweep."""
    import pytorch_lightning as pl
    import torch
    from ray import tune

    from tuning.space import apply_params

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    context = tune.get_context()
    trial_dir = context.get_trial_dir()
    seed = trial_seed(sweep["run"]["seed"], trial_dir)
    _record(trial_dir, seed, config)
    torch.set_num_threads(max(1, int(sweep["resources"]["cpu"])))
    pl.seed_everything(seed, workers=True, verbose=False)

    sections = apply_params({k: sweep[k] for k in ("model", "data", "trainer")}, config)
    datamodule = build(sections["data"], "data")
    model = build(sections["model"], "model")
    trainer = make_trainer(sections["trainer"], trial_dir)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        trainer.fit(model, datamodule=datamodule)
        return
    with checkpoint.as_directory() as directory:
        trainer.fit(model, datamodule=datamodule, ckpt_path=os.path.join(directory, CHECKPOINT_FILE))


def _record(trial_dir: str, seed: int, params: dict) -> None:
    """Write what the report needs to know about this trial beyond its metrics."""
    import ray

    info = {"seed": seed, "params": params, "hostname": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}
    os.makedirs(trial_dir, exist_ok=True)
    with open(os.path.join(trial_dir, TRIAL_FILE), "w") as fh:
        json.dump(info, fh, indent=1)

"""`Trial.load_model`: a trial's LightningModule, built with the sweep's class, with its checkpoint's weights.

The one place the Python API runs code an experiment names (the model's module, imported to build it): the
experiment must be trusted. The checkpoint itself is read with torch.load(weights_only=True), and only a regular
file inside the experiment is read (tuning.expdir), as `tuning export` reads it.
"""

import shutil
import tempfile
from pathlib import Path

from tuning.errors import UserError


def load_model(experiment: str, trial_id: str, scope: str | None = None):
    """The LightningModule of trial `trial_id` of `experiment` (a path or a URI), with the weights of the checkpoint
    of the epoch the report ranks (by `scope`)."""
    from tuning.expdir import CHECKPOINT_FILE, ExpDir
    from tuning.report import load_report

    exp = ExpDir(experiment)
    sweep = exp.sweep()
    if sweep.get("objective"):
        raise UserError(f"experiment {exp.display}: a synthetic objective's sweep trains no model to load")
    trial = next((t for t in load_report(experiment, scope=scope).trials if t.trial_id == trial_id), None)
    if trial is None:
        raise UserError(f"experiment {exp.display}: has no trial {trial_id}")
    if trial.checkpoint is None:
        raise UserError(f"trial {trial_id} ({trial.status}) kept no checkpoint: there are no weights to load")
    model = build_model(sweep, trial.config)
    state = read_checkpoint(exp, f"{trial.checkpoint[len(exp.display) + 1 :]}/{CHECKPOINT_FILE}")
    model.load_state_dict(state["state_dict"])
    return model


def build_model(sweep: dict, params: dict):
    """The sweep's model section with the trial's params applied, built as the trial built it (LightningCLI's or
    Hydra's meaning), with LightningCLI's optimizer when the sweep names one; untrained."""
    from tuning.sweep.classes import build
    from tuning.sweep.lightning_cli import add_configure_optimizers
    from tuning.sweep.space import TRIAL_SECTIONS, apply_params

    try:
        sections = apply_params({k: sweep.get(k) for k in TRIAL_SECTIONS}, params)
    except ValueError as exc:  # a sweep.yaml without the section a param names
        raise UserError(f"sweep.yaml: cannot apply the trial's params to it ({exc})") from None
    model = build(sections["model"], "model")
    if sections.get("optimizer"):  # so the module trains on as the trial did
        add_configure_optimizers(model, sections["optimizer"], sections.get("lr_scheduler"))
    return model


def read_checkpoint(exp, rel: str) -> dict:
    """The Lightning checkpoint `rel` of the experiment, loaded on the CPU with weights_only=True."""
    import torch

    from tuning.bounded import Unreadable

    try:
        source = exp.open(rel)
    except Unreadable as why:
        raise UserError(f"{exp.path(rel)}: not loaded ({why})") from None
    with source:
        if "://" not in exp.display:  # a regular local file: torch reads it in place
            return torch.load(source, map_location="cpu", weights_only=True)
        with tempfile.TemporaryDirectory(prefix="tuning-model-") as tmp:  # a remote stream cannot seek
            local = Path(tmp) / "checkpoint.ckpt"
            with open(local, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            return torch.load(local, map_location="cpu", weights_only=True)

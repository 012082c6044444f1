"""`tuning export`: one trial's checkpoint of the epoch the report ranks and its resolved Lightning config, in a
directory.

The config is a plain Lightning config (`seed_everything`, `model`, `data`, `trainer`, with
`class_path` + `init_args`, or the bare arguments for `cli_form: fixed`) with the trial's sampled params
applied and registry names turned into import paths, so the checkpoint loads with
`MyModule.load_from_checkpoint` or the config reruns the trial. The checkpoint is copied byte for byte:
nothing is unpickled here.
"""

import sys
from pathlib import Path

import yaml

from tuning.bounded import Unreadable
from tuning.errors import UserError
from tuning.expdir import CHECKPOINT_FILE, ExpDir
from tuning.report.load import load_report, searched_params, trial_info

CONFIG_FILE = "config.yaml"


def _class_path(section: str, spec) -> dict:
    """The spec with a registry name replaced by its import path, read from the registry: nothing is imported.

    The experiment directory may come from someone else; importing the module its sweep names would
    run that module's code on this machine.
    """
    from tuning.sweep.class_paths import split_path

    if not (
        isinstance(spec, dict)
        and isinstance(spec.get("class_path"), str)
        and isinstance(spec.get("init_args") or {}, dict)
    ):
        raise UserError(
            f"sweep.yaml: {section}: not a class_path entry with init_args as tuning writes one (nothing was written)"
        )
    split = split_path(section, spec["class_path"])
    if split is None:
        raise UserError(
            f"sweep.yaml: {section}.class_path '{spec['class_path']}' is neither a registry name nor "
            f"a dotted import path"
        )
    if spec.get("cli_form") == "fixed":  # LightningCLI(MyModel, MyData) takes the bare arguments
        return dict(spec.get("init_args") or {})
    if spec.get("cli_form") == "hydra":  # a Hydra node stays one: hydra.utils.instantiate builds it as written
        return {"_target_": spec["class_path"], **(spec.get("init_args") or {})}
    return {"class_path": ".".join(split), "init_args": spec.get("init_args") or {}}


def resolved_config(sweep: dict, params: dict, seed: int | None) -> dict:
    """model/data/trainer of the sweep with the trial's params applied, as a Lightning config."""
    from tuning.sweep.space import TRIAL_SECTIONS, apply_params

    try:
        sections = apply_params({k: sweep.get(k) for k in TRIAL_SECTIONS}, params)
    except ValueError as exc:  # a sweep.yaml without the section a param names
        raise UserError(f"sweep.yaml: cannot apply the trial's params to it ({exc}); nothing was written") from None
    out = {"seed_everything": seed} if seed is not None else {}
    out["model"] = _class_path("model", sections["model"])
    if sections["data"]:  # none: the module has its own dataloaders
        out["data"] = _class_path("data", sections["data"])
    out["trainer"] = sections["trainer"]
    out.update({k: sections[k] for k in ("optimizer", "lr_scheduler") if sections[k]})  # LightningCLI's own keys
    return out


def _target(output: str, experiment: str) -> Path:
    from tuning.storage import check_output

    out = check_output(output, experiment, kind="directory")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--output {out}: exists and is not an empty directory (nothing was overwritten)")
    return out


def _header(report, trial, keep: int | None) -> tuple[str, str | None]:
    """The config's first line, naming the ranked epoch and the checkpoint's; and a notice when they differ.

    They differ when Tune did not keep the ranked epoch's checkpoint (run.keep_checkpoints: it ranks
    checkpoints by search.scheduler.metric, which may not be the report's): the user must not take the
    exported model for the one that scored.
    """
    ranked = (
        f"# trial {trial.trial_id} of {report.experiment}: rank {trial.rank}, {report.metric} {trial.metric} "
        f"at epoch {trial.epoch}"
    )
    if trial.epoch is None or trial.checkpoint_epoch == trial.epoch:
        return f"{ranked} (checkpoint of epoch {trial.epoch}: {trial.checkpoint})\n", None
    given = f"epoch {trial.checkpoint_epoch}'s" if trial.checkpoint_epoch is not None else "one of an unknown epoch"
    notice = (
        f"epoch {trial.epoch}'s checkpoint of trial {trial.trial_id} was not kept (run.keep_checkpoints: "
        f"{keep}); this is {given}, the best kept"
    )
    return f"{ranked}; {notice} ({trial.checkpoint})\n", notice


def export_trial(experiment: str, rank: int = 1, output: str = "export", scope: str | None = None) -> list[str]:
    """Copy the checkpoint of the trial at `rank` and write its config; returns the paths written."""
    report = load_report(experiment, scope=scope)
    if not 1 <= rank <= len(report.trials):
        raise UserError(f"--rank: must be between 1 and {len(report.trials)} (the trials of {report.experiment})")
    trial = report.trials[rank - 1]
    if trial.checkpoint is None:
        raise UserError(f"--rank {rank}: trial {trial.trial_id} ({trial.status}) kept no checkpoint")
    out = _target(output, experiment)
    exp = ExpDir(experiment)
    ckpt_rel = trial.checkpoint[len(exp.display) + 1 :] + "/" + CHECKPOINT_FILE
    trial_rel = ckpt_rel.split("/")[0]
    if not exp.listed(ckpt_rel):
        raise UserError(f"--rank {rank}: {exp.path(ckpt_rel)} is missing")
    sweep = exp.sweep()
    info = trial_info(exp, trial_rel)
    params = searched_params(exp, trial_rel, info["params"], report.space) if info.get("params") else trial.config
    config = resolved_config(sweep, params, trial.seed)
    try:
        source = exp.open(ckpt_rel)  # a regular file inside the experiment, or nothing is written
    except Unreadable as why:
        raise UserError(f"--rank {rank}: {exp.path(ckpt_rel)}: not exported ({why}); nothing was written") from None
    out.mkdir(parents=True, exist_ok=True)
    with source as src, open(out / CHECKPOINT_FILE, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    header, notice = _header(report, trial, (sweep.get("run") or {}).get("keep_checkpoints"))
    if notice:
        print(f"tuning export: {notice}", file=sys.stderr)
    (out / CONFIG_FILE).write_text(header + yaml.safe_dump(config, sort_keys=False))
    return [str(out / CHECKPOINT_FILE), str(out / CONFIG_FILE)]

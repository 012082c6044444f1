"""Resolving the sweep's classes and checking it before anything starts: model and data, callbacks,
loggers, arguments against signatures, and the devices a trial can have.

A `class_path` is a registry name (`mlp`, `digits`) or a dotted import path
(`my_pkg.models.MyModel`); both resolve through `resolve_class`, so a user's own
class works exactly like a built-in. `trainer.callbacks` entries may also be bare names of the
sweep's Lightning distribution (`LearningRateMonitor`, tuning.sweep.flavour).
"""

import importlib
from pathlib import Path
from typing import NamedTuple

from tuning.errors import UserError, did_you_mean
from tuning.sweep import flavour
from tuning.sweep.class_paths import add_user_path, check_arguments, from_source, parameters, resolve_class, split_path

# Trainer arguments that tuning sets itself in every trial.
RESERVED_TRAINER_KEYS = {
    "default_root_dir": "each trial writes into its own trial directory",
    "enable_progress_bar": "progress is reported per trial by tuning",
}


def _given(section: dict, space_keys, prefix: str) -> dict[str, str]:
    """Argument name -> key path, from the section's own keys and the space keys under `prefix`.

    `space_keys`: key -> its path in search.space (through a conditional choice's branch), or just keys."""
    given = {name: f"{prefix}{name}" for name in section}
    paths = space_keys if isinstance(space_keys, dict) else {key: key for key in space_keys}
    for key, path in paths.items():
        if key.startswith(prefix):
            given.setdefault(key[len(prefix) :].split(".")[0], f"search.space.{path}")
    return given


def _section_class(section: str, class_path: str, static: bool):
    """(class or Signature, its Lightning distribution or False, dotted name, the class if it was imported)."""
    if static:
        add_user_path()
        split = split_path(section, class_path)
        found = from_source(*split, section) if split else None
        if found is not None:
            return (*found, None)
    cls = resolve_class(section, class_path)
    return cls, flavour.of_class(cls, section) or False, f"{cls.__module__}.{cls.__qualname__}", cls


class Checked(NamedTuple):
    """What check_classes found: the classes it imported (or None) and the sweep's Lightning distribution."""

    model: type | None
    data: type | None
    flavour: str


def check_flavours(found: dict[str, tuple[str, str]]) -> str:
    """The one Lightning distribution of a sweep's classes; `found`: key path -> (dotted name, distribution)."""
    names = {dist for _, dist in found.values()}
    if len(names) > 1:
        (a, (cls_a, dist_a)), (b, (cls_b, dist_b)) = [
            next((k, v) for k, v in found.items() if v[1] == n) for n in sorted(names)
        ]
        mixed = (
            f"{a}: {cls_a} is a {dist_a} class but {b}: {cls_b} is a {dist_b} class; one sweep uses one "
            f"Lightning distribution (a Trainer of one refuses the other's modules)"
        )
        builtin = next((cls for cls, dist in found.values() if dist == flavour.DEFAULT and _is_builtin(cls)), None)
        if builtin is not None:  # a built-in cannot change: the user's classes can
            theirs = sorted({cls.rpartition(".")[0] for cls, dist in found.values() if dist != flavour.DEFAULT})
            raise UserError(
                f"{mixed}, and tuning's built-in {builtin} derives from {flavour.DEFAULT} (before "
                f"tuning 2f201cf from pytorch_lightning: an experiment made then with a callback of "
                f"pytorch_lightning continues once the callback moves too): in {', '.join(theirs)} import "
                f"from lightning.pytorch instead of pytorch_lightning (`import lightning.pytorch as pl`, "
                f"the same classes), then run the same command again"
            )
        raise UserError(f"{mixed}: write both against `import lightning as L` or both against pytorch_lightning")
    return names.pop() if names else flavour.DEFAULT


def _is_builtin(dotted: str) -> bool:
    """Whether a class is one of tuning's built-in models or data modules (tuning/models, tuning/data)."""
    return dotted.startswith(("tuning.models.", "tuning.data."))


def build(spec: dict, section: str):
    """The LightningModule or DataModule of a model/data section, as LightningCLI or Hydra builds it
    (tuning.sweep.build)."""
    from tuning.sweep.build import build_section

    return build_section(spec, section)


def searched_keys(cfg) -> dict[str, tuple]:
    """Canonical space key (`model.lr` is `model.init_args.lr`) -> (its path in search.space, its Domain);
    a key searched under both spellings, or a section's own class_path, is refused."""
    from tuning.sweep.space import canonical_parts, flat_domains, key_paths

    paths, domains = key_paths(cfg.search.space), flat_domains(cfg.search.space, merge=False)
    sections = {k: (getattr(cfg, k).model_dump() if getattr(cfg, k) is not None else None) for k in ("model", "data")}
    out = {}
    for key, path in paths.items():
        canonical = ".".join(canonical_parts(sections, key))
        head = canonical.split(".")
        if head[0] in sections and sections[head[0]] is None:
            raise UserError(f"search.space.{path}: the sweep has no {head[0]} section to search in")
        if head[0] in sections and len(head) > 1 and head[1] in ("class_path", "cli_form"):
            raise UserError(
                f"search.space.{path}: {head[0]} parameters are searched as "
                f"{head[0]}.init_args.<argument> (or {head[0]}.<argument>)"
            )
        if canonical in out:
            raise UserError(f"search.space.{path}: the same argument as search.space.{out[canonical][0]}")
        out[canonical] = (path, domains[key])
    return out


def _check_section(section: str, spec, searched: dict, static: bool):
    """The section's class and arguments at every depth; (class or Signature, distribution, dotted, class)."""
    from tuning.sweep.arguments import check_hydra_args, check_tree

    sig, dist, dotted, cls = _section_class(section, spec.class_path, static)
    if not dist:
        raise UserError(
            f"{section}.class_path: {dotted} is not a {flavour.defined_at(flavour.DEFAULT, section)[1]} "
            f"subclass (of lightning.pytorch or pytorch_lightning)"
        )
    if spec.cli_form != "hydra":
        space_keys = {key: path for key, (path, _) in searched.items()}
        check_arguments(sig, _given(spec.init_args, space_keys, f"{section}.init_args."), f"{section}.init_args")
        check_tree(spec.init_args, parameters(sig), f"{section}.init_args", searched, False, static)
        return sig, dist, dotted, cls
    # A Hydra node's arguments sit beside its _target_: messages name them as written (model.net.lin1_size)
    own = {k.replace(f"{section}.init_args.", f"{section}.", 1): v for k, v in searched.items()}
    try:
        check_hydra_args(parameters(sig), {"_target_": spec.class_path, **spec.init_args}, section, own)
        check_tree(spec.init_args, parameters(sig), section, own, True, static)
    except UserError as exc:
        raise UserError(str(exc).replace(f"{section}.init_args.", f"{section}.")) from None
    return sig, dist, dotted, cls


def check_own_dataloaders(cfg, cls) -> None:
    """A sweep without `data` needs a module with its own `train_dataloader` (what LightningCLI(MyModel) runs)."""
    from tuning.sweep import signatures

    split = split_path("model", cfg.model.class_path)
    own = signatures.defines(*split, "train_dataloader") if cls is None and split else None
    if own is None:
        cls = cls or resolve_class("model", cfg.model.class_path)
        dist = flavour.of_class(cls, "model")
        own = bool(dist) and cls.train_dataloader is not flavour.base(dist, "model").train_dataloader
    if not own:
        raise UserError(
            f"data: required key is missing; {cfg.model.class_path} has no train_dataloader of its own: "
            "add a data section (a LightningDataModule: {class_path, init_args}), or define "
            "train_dataloader and val_dataloader in the module"
        )


def check_classes(cfg, static: bool = False) -> Checked:
    """Resolve model and data classes and check model, data, trainer and callback arguments, at every depth.

    The default imports the classes (and Lightning). `static=True` (tuning validate) reads each
    class from its source where it can and imports only those it cannot read; a class not imported
    comes back as None. A synthetic objective has no classes.
    """
    if cfg.objective is not None:
        return Checked(None, None, flavour.DEFAULT)
    searched = searched_keys(cfg)
    space_keys = {key: path for key, (path, _) in searched.items()}
    resolved, found = {}, {}
    for section in ("model", "data"):
        spec = getattr(cfg, section)
        if spec is None:
            resolved[section] = None
            continue
        sig, dist, dotted, cls = _check_section(section, spec, searched, static)
        found[f"{section}.class_path"] = (dotted, dist)
        resolved[section] = cls
        if section == "model" and cfg.data is None:
            check_own_dataloaders(cfg, cls)

    dist = check_flavours(found)  # bare callback names resolve in the model's and data's distribution
    found.update(check_callbacks(cfg.trainer, dist, static=static))
    dist = check_flavours(found)
    trainer = from_source(*flavour.defined_at(dist, "trainer"), None) if static else None
    trainer_sig = trainer[0] if trainer else flavour.base(dist, "trainer")
    check_arguments(trainer_sig, _given(cfg.trainer, space_keys, "trainer."), "trainer", RESERVED_TRAINER_KEYS)
    check_lightning_cli(cfg, dist, space_keys)
    check_resources(cfg)
    return Checked(resolved["model"], resolved["data"], dist)


def check_lightning_cli(cfg, dist: str, space_keys: dict[str, str]) -> None:
    """LightningCLI's keys: optimizer and lr_scheduler classes with known arguments, trainer.logger
    entries that are Loggers, a ckpt_path that is a file (tuning.sweep.lightning_cli)."""
    from tuning.sweep.lightning_cli import TORCH_MODULES, resolve

    first = {"optimizer": "params", "lr_scheduler": "optimizer"}  # what LightningCLI passes itself
    for section, passed in first.items():
        spec = getattr(cfg, section)
        if spec is None:
            searched = [k for k in space_keys if k.startswith(f"{section}.")]
            if searched:
                raise UserError(
                    f"search.space.{space_keys[searched[0]]}: the sweep has no {section} entry to search in"
                )
            continue
        cls = resolve(section, spec.class_path)
        if not isinstance(cls, type):
            raise UserError(
                f"{section}.class_path: no class '{spec.class_path}' (a dotted path, or a name in "
                f"{TORCH_MODULES[section]})"
            )
        given = _given(spec.init_args, space_keys, f"{section}.init_args.")
        check_arguments(cls, {passed: f"{section} (passed by tuning)", **given}, f"{section}.init_args")
    for i, spec in enumerate(cfg.trainer.get("logger", [])):  # imported even by validate: loggers have no registry
        cls = resolve_logger(spec["class_path"], dist, f"trainer.logger[{i}].class_path")
        given = _given(spec.get("init_args", {}), (), f"trainer.logger[{i}].init_args.")
        if "save_dir" in parameters(cls).named:  # set to the trial directory (tuning.trial.fit.user_loggers)
            given["save_dir"] = "(the trial directory)"
        check_arguments(cls, given, f"trainer.logger[{i}].init_args")
    if cfg.ckpt_path is not None and not Path(cfg.ckpt_path).expanduser().is_file():
        raise UserError(f"ckpt_path: {cfg.ckpt_path}: no such file")


def resolve_logger(class_path: str, dist: str, where: str):
    """A Lightning Logger class: a dotted path, or a bare name in the sweep's distribution's loggers."""
    from tuning.sweep.lightning_cli import import_name

    cls = import_name(class_path, f"{dist}.loggers")
    if cls is None:
        raise UserError(f"{where}: no Logger class '{class_path}' (a dotted path, or a name in {dist}.loggers)")
    if not (isinstance(cls, type) and issubclass(cls, importlib.import_module(f"{dist}.loggers").Logger)):
        raise UserError(f"{where}: {class_path} is not a {dist} Logger")
    return cls


# Trainer arguments tuning sets itself for a DDP trial (resources.workers > 1).
DDP_RESERVED = ("strategy", "devices", "num_nodes", "plugins")


def check_resources(cfg) -> None:
    """Devices a trial can have: an accelerator with GPUs given, several devices as DDP workers
    (`resources.workers`), never a Trainer waiting for processes nobody starts."""
    res = cfg.resources
    accelerator, devices = cfg.trainer.get("accelerator"), cfg.trainer.get("devices")
    if str(accelerator).lower() in ("gpu", "cuda") and res.gpu == 0:
        raise UserError(
            f"trainer.accelerator: {accelerator} but resources.gpu is 0, so Ray gives each trial no "
            "GPU: set resources.gpu (GPUs per trial, e.g. 1 or 0.5), or trainer.accelerator: cpu"
        )
    if (
        res.workers == 1
        and devices not in (None, "auto", 1, "1", -1, "-1")
        and not (isinstance(devices, list) and len(devices) == 1)
    ):
        raise UserError(
            f"trainer.devices: {devices!r} in one trial process; a trial runs on several devices as "
            "DDP over Ray workers: set resources.workers to the number of devices (and resources.gpu: 1, "
            "GPUs per worker), and leave trainer.devices out"
        )
    if res.workers == 1 and res.gpu > 1:
        raise UserError(
            f"resources.gpu: {res.gpu} GPUs for one worker; a trial uses more than one GPU as DDP: "
            f"set resources.workers: {int(res.gpu)} and resources.gpu: 1 (GPUs per worker)"
        )
    if res.workers > 1:
        taken = [k for k in DDP_RESERVED if k in cfg.trainer]
        if taken:
            raise UserError(
                f"trainer.{taken[0]}: set by tuning when resources.workers > 1 "
                "(each trial runs DDP over its workers through Ray Train)"
            )


def resolve_callback(class_path: str, where: str, dist: str) -> type:
    """A Callback class from a bare name (of distribution `dist`'s callbacks) or a dotted path."""
    if "." not in class_path:
        builtin = flavour.module(dist).callbacks
        cls = getattr(builtin, class_path, None)
        if cls is None:
            names = [n for n in dir(builtin) if n[0].isupper()]
            raise UserError(
                f"{where}: '{class_path}' is not a Lightning callback{did_you_mean(class_path, names)}; "
                f"use a name from {dist}.callbacks or a dotted path like my_pkg.MyCallback"
            )
    else:
        cls = resolve_class("callback", class_path)
    if not flavour.of_class(cls, "callback"):
        raise UserError(f"{where}: {class_path} is not a Lightning Callback subclass")
    return cls


def _callback_from_source(class_path: str, dist: str):
    """(Signature, distribution or False, dotted name) of a callback read from its source; None: import it."""
    add_user_path()
    split = (f"{dist}.callbacks", class_path) if "." not in class_path else split_path("callback", class_path)
    return from_source(*split, "callback") if split else None


def check_callbacks(trainer: dict, dist: str, static: bool = False) -> dict[str, tuple[str, str]]:
    """Resolve every `trainer.callbacks` entry and check its init_args against its signature.

    A bare name is one of distribution `dist`'s callbacks. Returns key path -> (dotted name,
    distribution) of each callback, for the one-distribution check. `static=True` reads a callback
    from its source where it can (no Lightning import), as `check_classes` does. Lightning's LR and
    batch-size finders are refused; a progress bar passes, and trials drop it (tuning.trial.callbacks).
    """
    from tuning.sweep import signatures

    # Both overwrite at fit start what each trial samples, and then restore the Trainer from their own checkpoint:
    # a trial restored from its checkpoint (a retry, a resume, PBT) counts its epochs from 0 again (Lightning 2.6).
    refused = {
        "lr_finder.LearningRateFinder": "it overwrites the learning rate each trial samples, and a trial "
        "restored from its checkpoint (a retry, a resume, PBT) counts its epochs from 0 again after it; run "
        "`tuning find-lr` on the sweep once instead",
        "batch_size_finder.BatchSizeFinder": "it overwrites the batch size each trial samples, a trial restored "
        "from its checkpoint (a retry, a resume, PBT) counts its epochs from 0 again after it, and DDP trials "
        "refuse it; set trial.auto_batch_size: true instead (each trial scales its batch size before it fits)",
    }
    found = {}
    for i, spec in enumerate(trainer.get("callbacks") or []):
        where = f"trainer.callbacks[{i}]"
        source = _callback_from_source(spec["class_path"], dist) if static else None
        if source is not None and not source[1]:
            raise UserError(f"{where}.class_path: {spec['class_path']} is not a Lightning Callback subclass")
        if source is None:
            cls = resolve_callback(spec["class_path"], f"{where}.class_path", dist)
            source = (cls, flavour.of_class(cls, "callback"), f"{cls.__module__}.{cls.__qualname__}")
        module, _, cls_name = source[2].rpartition(".")
        for target, why in refused.items():
            base = tuple(f"{source[1]}.callbacks.{target}".rsplit(".", 1))
            if isinstance(source[0], type):
                refuse = issubclass(source[0], getattr(importlib.import_module(base[0]), base[1]))
            else:  # read from source; where its bases cannot tell, `tuning run`'s importing check refuses it
                refuse = signatures.is_subclass(signatures.resolve(module, [cls_name]), base)
            if refuse:
                raise UserError(f"{where}: {cls_name} cannot run inside a trial: {why}")
        args = spec.get("init_args") or {}
        check_arguments(source[0], {name: f"{where}.init_args.{name}" for name in args}, f"{where}.init_args")
        found[f"{where}.class_path"] = (source[2], source[1])
    return found

"""Resolving the sweep's classes and checking it before anything starts: model and data, callbacks,
loggers, arguments against signatures, and the devices a trial can have.

A `class_path` is a registry name (`mlp`, `digits`) or a dotted import path
(`my_pkg.models.MyModel`); both resolve through `resolve_class`, so a user's own
class works exactly like a built-in. `trainer.callbacks` entries may also be bare names of the
sweep's Lightning distribution (`LearningRateMonitor`, tuning.flavour).
"""

import importlib
import inspect
import os
from pathlib import Path
from typing import NamedTuple

from tuning import flavour
from tuning.errors import UserError, describe_exception, did_you_mean

# Trainer arguments that tuning sets itself in every trial.
RESERVED_TRAINER_KEYS = {
    "default_root_dir": "each trial writes into its own trial directory",
    "enable_progress_bar": "progress is reported per trial by tuning",
}


def registry(section: str) -> dict[str, str]:
    """The registry of built-ins for `model` or `data`: name -> 'module:Class' (other sections have none)."""
    from tuning.data import DATA
    from tuning.models import MODELS

    return {"model": MODELS, "data": DATA}.get(section, {})


def add_user_path() -> None:
    """Let users' own packages import from the current folder, as `python -m` does (Ray's workers get it too).

    The built-ins live inside our namespace (`tuning.models`, `tuning.data`), so a project's own `data.py`
    or `models/` neither shadows them nor is shadowed; the folder is appended, after installed packages.
    """
    import sys

    registry("model")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())


# Trainer.__init__'s decorator only fills defaults from PL_TRAINER_* variables; it keeps the signature.
KEEPS_SIGNATURE = {(f"{name}.utilities.argparse", "_defaults_from_env_vars") for name in flavour.NAMES}


def split_path(section: str, class_path: str) -> tuple[str, str] | None:
    """(module, class name) of a registry name or a dotted path; None when it is neither."""
    target = registry(section).get(class_path, class_path)
    module_name, sep, attr = target.partition(":") if ":" in target else target.rpartition(".")
    return (module_name, attr) if sep and module_name else None


def resolve_class(section: str, class_path: str) -> type:
    """The class named by a registry name or a dotted path; UserError naming `<section>.class_path`."""
    add_user_path()
    names = registry(section)
    where = f"{section}.class_path"
    split = split_path(section, class_path)
    if split is None:
        raise UserError(f"{where}: '{class_path}' is not a registered {section}{did_you_mean(class_path, names)} "
                        f"nor a dotted import path like my_pkg.module.MyClass; registered: {', '.join(names)}")
    module_name, attr = split
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"{where}: cannot import module '{module_name}' for '{class_path}': {exc}. "
                        f"Run tuning from the folder that holds the package, or install it.") from None
    except Exception as exc:  # a SyntaxError or anything the module raises while it is imported
        raise UserError(f"{where}: importing module '{module_name}' for '{class_path}' failed: "
                        f"{describe_exception(exc)}") from None
    cls = getattr(module, attr, None)
    if not inspect.isclass(cls):
        raise UserError(f"{where}: module '{module_name}' has no class '{attr}'"
                        f"{did_you_mean(attr, [n for n, v in vars(module).items() if inspect.isclass(v)])}")
    return cls


def from_source(module: str, name: str, kind: str | None):
    """(Signature, distribution, dotted name) read from source alone; None when the source cannot tell.

    The distribution is the Lightning distribution whose base of `kind` the class derives from,
    False when it derives from neither (None for `kind` None: no base to check). None sends the
    caller to import the class: a class made at run time, a decorated class or `__init__`, an
    inherited `__init__`, a module whose own imports are not installed.
    """
    from tuning import signatures

    ref = signatures.resolve(module, [name])
    if not isinstance(ref, signatures.ClassRef) or not signatures.importable(ref):
        return None
    sig = signatures.signature(ref, KEEPS_SIGNATURE)
    if sig is None:
        return None
    found = None
    if kind is not None:
        answers = {n: signatures.is_subclass(ref, flavour.defined_at(n, kind)) for n in flavour.NAMES}
        found = next((n for n, yes in answers.items() if yes), None if None in answers.values() else False)
        if found is None:
            return None
    return sig, found, f"{ref.module}.{ref.node.name}"


def parameters(cls):
    """A constructor's keyword-passable arguments (name -> required) and whether it takes **kwargs."""
    from tuning.signatures import Signature

    if isinstance(cls, Signature):
        return cls
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n: p.default is p.empty for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return Signature(cls.__name__, named, var_kw)


def check_arguments(cls, given: dict[str, str], where: str, reserved: dict[str, str] | None = None) -> None:
    """Every given argument exists in `cls.__init__` and every required one is given.

    `cls` is a class or a `Signature` read from source; `given` maps argument name -> the key path
    the user wrote it at.
    """
    sig = parameters(cls)
    named = sig.named  # argument -> required
    reserved = reserved or {}
    for arg, path in given.items():
        if arg in reserved:
            raise UserError(f"{path}: set by tuning, not by the sweep ({reserved[arg]})")
        if arg not in named and not sig.var_kw:
            raise UserError(f"{path}: {sig.owner} has no argument '{arg}'{did_you_mean(arg, named)}; "
                            f"it accepts: {', '.join(named) or 'nothing'}")
    missing = [n for n, required in named.items() if required and n not in given]
    if missing:
        raise UserError(f"{where}: {sig.owner} needs argument '{missing[0]}' (it has no default); "
                        f"add it to {where} or to search.space")


def _given(section: dict, space_keys, prefix: str) -> dict[str, str]:
    """Argument name -> key path, from the section's own keys and the space keys under `prefix`.

    `space_keys`: key -> its path in search.space (through a conditional choice's branch), or just keys."""
    given = {name: f"{prefix}{name}" for name in section}
    paths = space_keys if isinstance(space_keys, dict) else {key: key for key in space_keys}
    for key, path in paths.items():
        if key.startswith(prefix):
            given.setdefault(key[len(prefix):].split(".")[0], f"search.space.{path}")
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
        (a, (cls_a, dist_a)), (b, (cls_b, dist_b)) = [next((k, v) for k, v in found.items() if v[1] == n)
                                                      for n in sorted(names)]
        raise UserError(f"{a}: {cls_a} is a {dist_a} class but {b}: {cls_b} is a {dist_b} class; one sweep uses "
                        f"one Lightning distribution (a Trainer of one refuses the other's modules): write both "
                        f"against `import lightning as L` or both against pytorch_lightning")
    return names.pop() if names else flavour.DEFAULT


def build(spec: dict, section: str):
    """Instantiate `{class_path, init_args}` (a registry name or dotted path)."""
    return resolve_class(section, spec["class_path"])(**spec.get("init_args", {}))


def check_classes(cfg, static: bool = False) -> Checked:
    """Resolve model and data classes and check model, data, trainer and callback arguments.

    The default imports the classes (and Lightning). `static=True` (tuning validate) reads each
    class from its source where it can and imports only those it cannot read; a class not imported
    comes back as None. A synthetic objective has no classes.
    """
    if cfg.objective is not None:
        return Checked(None, None, flavour.DEFAULT)
    from tuning.space import key_paths

    space_keys = key_paths(cfg.search.space)  # every branch's keys too, each by its full path
    for key, path in space_keys.items():
        head = key.split(".")[0]
        if head in ("model", "data") and not key.startswith(f"{head}.init_args."):
            raise UserError(f"search.space.{path}: {head} parameters are searched as {head}.init_args.<argument>")
    resolved, found = [], {}
    for section in ("model", "data"):
        spec = getattr(cfg, section)
        sig, dist, dotted, cls = _section_class(section, spec.class_path, static)
        if not dist:
            raise UserError(f"{section}.class_path: {dotted} is not a {flavour.defined_at(flavour.DEFAULT, section)[1]} "
                            f"subclass (of lightning.pytorch or pytorch_lightning)")
        found[f"{section}.class_path"] = (dotted, dist)
        check_arguments(sig, _given(spec.init_args, space_keys, f"{section}.init_args."), f"{section}.init_args")
        resolved.append(cls)

    dist = check_flavours(found)  # bare callback names resolve in the model's and data's distribution
    found.update(check_callbacks(cfg.trainer, dist, static=static))
    dist = check_flavours(found)
    trainer = from_source(*flavour.defined_at(dist, "trainer"), None) if static else None
    trainer_sig = trainer[0] if trainer else flavour.base(dist, "trainer")
    check_arguments(trainer_sig, _given(cfg.trainer, space_keys, "trainer."), "trainer", RESERVED_TRAINER_KEYS)
    check_lightning_cli(cfg, dist, space_keys)
    check_resources(cfg)
    return Checked(*resolved, dist)


def check_lightning_cli(cfg, dist: str, space_keys: dict[str, str]) -> None:
    """LightningCLI's keys: optimizer and lr_scheduler classes with known arguments, trainer.logger
    entries that are Loggers, a ckpt_path that is a file (tuning.lightning_cli)."""
    from tuning.lightning_cli import TORCH_MODULES, resolve

    first = {"optimizer": "params", "lr_scheduler": "optimizer"}  # what LightningCLI passes itself
    for section, passed in first.items():
        spec = getattr(cfg, section)
        if spec is None:
            searched = [k for k in space_keys if k.startswith(f"{section}.")]
            if searched:
                raise UserError(f"search.space.{space_keys[searched[0]]}: the sweep has no {section} entry to search in")
            continue
        cls = resolve(section, spec.class_path)
        if not isinstance(cls, type):
            raise UserError(f"{section}.class_path: no class '{spec.class_path}' (a dotted path, or a name in "
                            f"{TORCH_MODULES[section]})")
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
    from tuning.lightning_cli import import_name

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
        raise UserError(f"trainer.accelerator: {accelerator} but resources.gpu is 0, so Ray gives each trial no "
                        "GPU: set resources.gpu (GPUs per trial, e.g. 1 or 0.5), or trainer.accelerator: cpu")
    if res.workers == 1 and devices not in (None, "auto", 1, "1", -1, "-1") and not (
            isinstance(devices, list) and len(devices) == 1):
        raise UserError(f"trainer.devices: {devices!r} in one trial process; a trial runs on several devices as "
                        "DDP over Ray workers: set resources.workers to the number of devices (and resources.gpu: 1, "
                        "GPUs per worker), and leave trainer.devices out")
    if res.workers == 1 and res.gpu > 1:
        raise UserError(f"resources.gpu: {res.gpu} GPUs for one worker; a trial uses more than one GPU as DDP: "
                        f"set resources.workers: {int(res.gpu)} and resources.gpu: 1 (GPUs per worker)")
    if res.workers > 1:
        taken = [k for k in DDP_RESERVED if k in cfg.trainer]
        if taken:
            raise UserError(f"trainer.{taken[0]}: set by tuning when resources.workers > 1 "
                            "(each trial runs DDP over its workers through Ray Train)")


def resolve_callback(class_path: str, where: str, dist: str) -> type:
    """A Callback class from a bare name (of distribution `dist`'s callbacks) or a dotted path."""
    if "." not in class_path:
        builtin = flavour.module(dist).callbacks
        cls = getattr(builtin, class_path, None)
        if cls is None:
            names = [n for n in dir(builtin) if n[0].isupper()]
            raise UserError(f"{where}: '{class_path}' is not a Lightning callback{did_you_mean(class_path, names)}; "
                            f"use a name from {dist}.callbacks or a dotted path like my_pkg.MyCallback")
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
    from its source where it can (no Lightning import), as `check_classes` does.
    """
    found = {}
    for i, spec in enumerate(trainer.get("callbacks") or []):
        where = f"trainer.callbacks[{i}]"
        source = _callback_from_source(spec["class_path"], dist) if static else None
        if source is not None and not source[1]:
            raise UserError(f"{where}.class_path: {spec['class_path']} is not a Lightning Callback subclass")
        if source is None:
            cls = resolve_callback(spec["class_path"], f"{where}.class_path", dist)
            source = (cls, flavour.of_class(cls, "callback"), f"{cls.__module__}.{cls.__qualname__}")
        args = spec.get("init_args") or {}
        check_arguments(source[0], {name: f"{where}.init_args.{name}" for name in args}, f"{where}.init_args")
        found[f"{where}.class_path"] = (source[2], source[1])
    return found

"""Resolving model and data classes, and checking arguments against their signatures.

A `class_path` is a registry name (`mlp`, `digits`) or a dotted import path
(`my_pkg.models.MyModel`); both resolve through `resolve_class`, so a user's own
class works exactly like a built-in.
"""

import importlib
import inspect
import os

from tuning.errors import UserError, did_you_mean

# Trainer arguments that tuning sets itself in every trial.
RESERVED_TRAINER_KEYS = {
    "logger": "every trial logs to TensorBoard in its own directory",
    "default_root_dir": "each trial writes into its own trial directory",
    "enable_progress_bar": "progress is reported per trial by tuning",
}


def registry(section: str) -> dict[str, str]:
    """The registry of built-ins for `model` or `data`: name -> 'module:Class'."""
    from data import DATA
    from models import MODELS

    return MODELS if section == "model" else DATA


def add_user_path() -> None:
    """Let users' own packages import from the current folder, as `python -m` does (Ray's workers get it too).

    Our `models` and `data` packages are imported first, and the folder is appended, not prepended:
    a user's project often has folders of those names, which must not shadow ours.
    """
    import sys

    registry("model")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())


def resolve_class(section: str, class_path: str) -> type:
    """The class named by a registry name or a dotted path; UserError naming `<section>.class_path`."""
    add_user_path()
    names = registry(section)
    target = names.get(class_path, class_path)
    module_name, sep, attr = target.partition(":") if ":" in target else target.rpartition(".")
    where = f"{section}.class_path"
    if not sep or not module_name:
        raise UserError(f"{where}: '{class_path}' is not a registered {section}{did_you_mean(class_path, names)} "
                        f"nor a dotted import path like my_pkg.module.MyClass; registered: {', '.join(names)}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"{where}: cannot import module '{module_name}' for '{class_path}': {exc}. "
                        f"Run tuning from the folder that holds the package, or install it.") from None
    cls = getattr(module, attr, None)
    if not inspect.isclass(cls):
        raise UserError(f"{where}: module '{module_name}' has no class '{attr}'"
                        f"{did_you_mean(attr, [n for n, v in vars(module).items() if inspect.isclass(v)])}")
    return cls


def _parameters(cls) -> tuple[dict[str, inspect.Parameter], bool]:
    """A constructor's named parameters, and whether it takes **kwargs."""
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n: p for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, var_kw


def check_arguments(cls, given: dict[str, str], where: str, reserved: dict[str, str] = {}) -> None:
    """Every given argument exists in `cls.__init__` and every required one is given.

    `given` maps argument name -> the key path the user wrote it at.
    """
    named, var_kw = _parameters(cls)
    for arg, path in given.items():
        if arg in reserved:
            raise UserError(f"{path}: set by tuning, not by the sweep ({reserved[arg]})")
        if arg not in named and not var_kw:
            raise UserError(f"{path}: {cls.__name__} has no argument '{arg}'{did_you_mean(arg, named)}; "
                            f"it accepts: {', '.join(named) or 'nothing'}")
    missing = [n for n, p in named.items() if p.default is p.empty and n not in given]
    if missing:
        raise UserError(f"{where}: {cls.__name__} needs argument '{missing[0]}' (it has no default); "
                        f"add it to {where} or to search.space")


def _given(section: dict, space_keys, prefix: str) -> dict[str, str]:
    """Argument name -> key path, from the section's own keys and the space keys under `prefix`."""
    given = {name: f"{prefix}{name}" for name in section}
    for key in space_keys:
        if key.startswith(prefix):
            given.setdefault(key[len(prefix):].split(".")[0], f"search.space.{key}")
    return given


def check_classes(cfg) -> tuple[type, type]:
    """Resolve model and data classes and check model, data and trainer arguments. Imports lightning."""
    import pytorch_lightning as pl

    space_keys = list(cfg.search.space)
    for key in space_keys:
        head = key.split(".")[0]
        if head in ("model", "data") and not key.startswith(f"{head}.init_args."):
            raise UserError(f"search.space.{key}: {head} parameters are searched as {head}.init_args.<argument>")
    resolved = []
    for section, base in (("model", pl.LightningModule), ("data", pl.LightningDataModule)):
        spec = getattr(cfg, section)
        cls = resolve_class(section, spec.class_path)
        if not issubclass(cls, base):
            raise UserError(f"{section}.class_path: {cls.__module__}.{cls.__qualname__} is not a "
                            f"{base.__name__} subclass")
        check_arguments(cls, _given(spec.init_args, space_keys, f"{section}.init_args."), f"{section}.init_args")
        resolved.append(cls)
    check_arguments(pl.Trainer, _given(cfg.trainer, space_keys, "trainer."), "trainer", RESERVED_TRAINER_KEYS)
    from tuning.callbacks import check_callbacks
    from tuning.ddp import check_resources

    check_callbacks(cfg.trainer)
    check_resources(cfg)
    return tuple(resolved)

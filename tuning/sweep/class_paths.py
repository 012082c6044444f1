"""Class paths: a registry name (`mlp`, `digits`) or a dotted import path (`my_pkg.models.MyModel`), resolved
by importing it or read from its source, and constructor arguments checked against a signature.

The lowest layer of the class checks: tuning.sweep.classes (the sweep's sections), tuning.sweep.arguments (arguments
at every depth) and tuning.sweep.build (building a section) all resolve classes here.
"""

import importlib
import inspect
import os

from tuning.errors import UserError, describe_exception, did_you_mean
from tuning.sweep import flavour


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

    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())


# Trainer.__init__'s decorator only fills defaults from PL_TRAINER_* variables; it keeps the signature.
KEEPS_SIGNATURE = {(f"{name}.utilities.argparse", "_defaults_from_env_vars") for name in flavour.NAMES}


def split_path(section: str, class_path: str) -> tuple[str, str] | None:
    """(module, class name) of a registry name or a dotted path; None when it is neither."""
    target = registry(section).get(class_path, class_path)
    module_name, sep, attr = target.partition(":") if ":" in target else target.rpartition(".")
    return (module_name, attr) if sep and module_name else None


def resolve_class(section: str, class_path: str, where: str | None = None) -> type:
    """The class named by a registry name or a dotted path; UserError naming `where` (`<section>.class_path`)."""
    add_user_path()
    names = registry(section)
    where = where or f"{section}.class_path"
    split = split_path(section, class_path)
    if split is None:
        raise UserError(
            f"{where}: '{class_path}' is not a registered {section}{did_you_mean(class_path, names)} "
            f"nor a dotted import path like my_pkg.module.MyClass; registered: {', '.join(names)}"
        )
    module_name, attr = split
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"{where}: cannot import module '{module_name}' for '{class_path}': {exc}. "
            f"Run tuning from the folder that holds the package, or install it."
        ) from None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # anything the module raises while it is imported
        # (a sys.exit(0) at import would otherwise end `tuning run` with exit 0 and nothing done)
        raise UserError(
            f"{where}: importing module '{module_name}' for '{class_path}' failed: {describe_exception(exc)}"
        ) from None
    cls = getattr(module, attr, None)
    if not inspect.isclass(cls):
        raise UserError(
            f"{where}: module '{module_name}' has no class '{attr}'"
            f"{did_you_mean(attr, [n for n, v in vars(module).items() if inspect.isclass(v)])}"
        )
    if "<locals>" in cls.__qualname__:  # LightningCLI imports a class by its qualified name, as a trial does
        raise UserError(
            f"{where}: '{class_path}' is a class defined inside a function ({cls.__qualname__}): LightningCLI "
            f"cannot import it by name, so no trial could build it; define it at the top level of {module_name}"
        )
    return cls


def from_source(module: str, name: str, kind: str | None):
    """(Signature, distribution, dotted name) read from source alone; None when the source cannot tell.

    The distribution is the Lightning distribution whose base of `kind` the class derives from,
    False when it derives from neither (None for `kind` None: no base to check). None sends the
    caller to import the class: a class made at run time, a decorated class or `__init__`, an
    inherited `__init__`, a module whose own imports are not installed.
    """
    from tuning.sweep import signatures

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
    from tuning.sweep.signatures import Signature

    if isinstance(cls, Signature):
        return cls
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n: p.default is p.empty for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    annotations = {
        n: p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)
        for n, p in params.items()
        if p.annotation is not p.empty
    }
    positional = tuple(n for n, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return Signature(cls.__name__, named, var_kw, annotations, positional)


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
            raise UserError(
                f"{path}: {sig.owner} has no argument '{arg}'{did_you_mean(arg, named)}; "
                f"it accepts: {', '.join(named) or 'nothing'}"
            )
    missing = [n for n, required in named.items() if required and n not in given]
    if missing:
        raise UserError(
            f"{where}: {sig.owner} needs argument '{missing[0]}' (it has no default); "
            f"add it to {where} or to search.space"
        )

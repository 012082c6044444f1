"""Building a sweep's `model` or `data` section the way the project's own tools build it.

A section (`{class_path, init_args, cli_form}`, tuning.sweep.config.ModuleSpec) means what LightningCLI
builds from it (`cli_form` subclass or fixed), or, for a section written as a Hydra node
(`cli_form: hydra`, `_target_` in the sweep file), what `hydra.utils.instantiate` builds. Both are
built by that machinery itself, not by rules of ours that would drift from it:

- LightningCLI: its own argument parser (jsonargparse) with the class's arguments added as
  `LightningCLI` adds them, then parsed and instantiated. Nested `class_path` entries become instances
  or callables by the parameter's type (`OptimizerCallable` -> a callable), dict-typed arguments stay
  dicts, values are checked against their types. LightningCLI's instantiator is used too, so the
  module's `save_hyperparameters()` stores the config and `load_from_checkpoint` rebuilds nested
  classes from it (tuning.compat.lightning.lightning_cli_instantiator).
- Hydra: `hydra.utils.instantiate` on the node as written (`_partial_`, `_args_`, `_recursive_`,
  `_convert_`), from the optional extra `tuning[hydra]`.

Errors are `UserError`s naming the section's key path, so the driver's preflight refuses a config
LightningCLI or Hydra would refuse (exit 2) before any trial starts.
"""

import copy
import importlib
import re

from tuning.errors import UserError, describe_exception
from tuning.sweep import flavour

HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")  # Hydra's own node keys
HYDRA_MISSING = "a Hydra node (_target_) is built by hydra.utils.instantiate: pip install 'tuning[hydra]' (hydra-core)"


def build_section(spec: dict, section: str):
    """The LightningModule or LightningDataModule a `model`/`data` section describes."""
    from tuning.sweep.class_paths import add_user_path

    add_user_path()
    if spec.get("cli_form") == "hydra":
        return _hydra(spec, section)
    return _lightning_cli(spec, section)


def hydra_node(spec: dict) -> dict:
    """A `cli_form: hydra` section as the Hydra node it was written as."""
    return {"_target_": spec["class_path"], **(spec.get("init_args") or {})}


def _hydra(spec: dict, section: str):
    try:
        from hydra.errors import InstantiationException
        from hydra.utils import instantiate
        from omegaconf.errors import InterpolationKeyError, OmegaConfBaseException
    except ImportError:
        raise UserError(f"{section}._target_: {HYDRA_MISSING}") from None
    try:
        return instantiate(hydra_node(spec))
    except (InstantiationException, OmegaConfBaseException) as exc:  # OmegaConf's: `???` left, `${...}` unresolved
        hint = (
            f" (the section is built on its own: an interpolation can name keys inside {section} only)"
            if isinstance(exc, InterpolationKeyError)
            else ""
        )
        raise UserError(f"{section}: hydra.utils.instantiate refuses it: {_hydra_message(exc)}{hint}") from None


def _hydra_message(exc) -> str:
    """Hydra's message with its key path (`full_key: net.lin1_size`) kept, its traceback hint dropped."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return re.sub(r"\s*\(?\s*Error locating target.*?see chained exception above\.?\)?", "", text).strip()


def _lightning_cli(spec: dict, section: str):
    from tuning.compat import lightning as lightning_compat
    from tuning.sweep.class_paths import resolve_class

    cls = resolve_class(section, spec["class_path"])
    dist = flavour.of_class(cls, section)
    if dist is None:
        raise UserError(
            f"{section}.class_path: {spec['class_path']} is not a "
            f"{flavour.defined_at(flavour.DEFAULT, section)[1]} subclass"
        )
    cli = importlib.import_module(f"{dist}.cli")
    parser = cli.LightningArgumentParser(exit_on_error=False)
    subclass = spec.get("cli_form", "subclass") == "subclass"
    init_args = copy.deepcopy(spec.get("init_args") or {})  # jsonargparse edits what it parses (pops dict_kwargs)
    given = {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args} if subclass else init_args
    parser.add_lightning_class_args(
        cls if not subclass else flavour.base(dist, section), section, subclass_mode=subclass
    )
    try:
        config = parser.parse_object({section: given})
    except Exception as exc:  # jsonargparse's ArgumentError: a key, class or type LightningCLI refuses
        raise UserError(cli_error(section, str(exc))) from None
    instantiator = lightning_compat.lightning_cli_instantiator(dist, parser, config, section, cls)
    try:
        return getattr(parser.instantiate(config, instantiators=[instantiator]), section)
    except UserError:
        raise
    except Exception as exc:  # the user's own __init__ (or a nested class's) raised
        while exc.__cause__ or exc.__context__:  # jsonargparse re-raises it inside its own (a Union's) errors
            exc = exc.__cause__ or exc.__context__
        raise UserError(
            f"{section}: building {spec['class_path']} from {section}.init_args raised {describe_exception(exc)}"
        ) from None


def cli_error(section: str, text: str) -> str:
    """jsonargparse's nested error text as one line naming the full key path.

    jsonargparse nests `Parser key "backbone":` and `Problem with given class_path 'X':` lines, one
    level of indentation each, and lists each alternative of a Union (the `None` of an optional
    section is one): the first alternative is followed down to its innermost message.
    """
    path, classes, message, after_class = [section], [], None, False
    for line in text.splitlines():
        line = line.strip().removeprefix("- ")
        called = re.match(r"Type .* expects a function or a callable class: (.*)", line)
        if called:  # a Callable-typed argument (OptimizerCallable); a class_path entry's problem follows
            entry = re.search(r"Got value: Namespace\(class_path='([^']+)'", line)
            line = called.group(1)
            if entry or line.startswith("Parser key"):
                classes += [entry.group(1)] if entry else []
                path, after_class = path + ["init_args"], True
        key = re.match(r'Parser key "([^"]+)":', line)
        given = re.match(r"Problem with given class_path '([^']+)':", line)
        if key:
            path += [part for part in key.group(1).split(".") if part not in path[-1:]]
        elif given:
            classes.append(given.group(1))
            path.append("init_args")
        elif line and not line.startswith(("Does not validate", "Subtypes:", "Errors:", "Given value")):
            message = line
            break
        after_class = bool(given)
    option = re.match(r"Option '([^']+)' is not accepted", message or "")
    group = re.match(r"Group '([^']+)' does not accept option '([^']+)'", message or "")
    required = re.match(r"the following arguments are required: ([^,\s]+)", message or "")
    if group:  # a fixed class's own arguments
        path = [*group.group(1).split("."), group.group(2)]
    elif option or required:
        path.append((option or required).group(1))
    elif after_class:
        path[-1] = "class_path"  # the class itself: not found, not a subclass
    elif (message or "").startswith("Import path "):  # a class of the wrong base, given to a class-typed argument
        path.append("class_path")
    owner = f" ({classes[-1]})" if classes else ""
    return f"{'.'.join(path)}: LightningCLI refuses this config{owner}: {message or text.strip()}"

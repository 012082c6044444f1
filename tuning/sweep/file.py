"""The sweep file as YAML text: read (safe loader, YAML 1.2 floats), `--set` overrides, bounded plain data.

Below the typed checks of `tuning.sweep.config`: what comes out of here is plain data whose numbers are
finite and whose size, aliases expanded, is bounded.
"""

import math
import re
from pathlib import Path

import yaml

from tuning.errors import UserError


class _Loader(yaml.SafeLoader):
    """The safe loader, reading floats as YAML 1.2 does: `1e-3` is a number, not the string '1e-3'."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str):
    """YAML text as plain data (safe loader, YAML 1.2 floats)."""
    return yaml.load(text, Loader=_Loader)


def read_yaml(path: Path) -> dict:
    """A YAML mapping from disk (safe loader), or a UserError naming the file and line."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason}); a sweep file is YAML text")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a sweep file must be a YAML mapping (model, data, trainer, search, ...)")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `dotted.key=value` overrides (values typed as YAML) to the raw sweep data, in order."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set search.num_samples=32")
        try:
            value = load_yaml(raw)
        except yaml.YAMLError as exc:
            raise UserError(f"--set {key}: the value is not valid YAML: {exc}") from None
        _set_dotted(data, key, value)
    return data


def _set_dotted(data: dict, key: str, value) -> None:
    from tuning.sweep.space import set_path

    # Space keys are themselves dotted: everything after `search.space.` is one key.
    prefix = "search.space."
    if key.startswith(prefix):
        node = data
        for where in ("search", "search.space"):
            node = node.setdefault(where.split(".")[-1], {})
            if not isinstance(node, dict):
                raise UserError(f"--set {key}: '{where}' is not a mapping, cannot set a key inside it")
        node[key[len(prefix) :]] = value
        return
    try:  # model.lr is model.init_args.lr, as LightningCLI's own command line reads it (tuning.sweep.space.set_path)
        set_path(data, key, value)
    except ValueError as exc:
        raise UserError(f"--set {key}: {exc}") from None


MAX_NODES = 100_000  # values in a sweep, aliases expanded: far above any real sweep, far below a YAML alias bomb


def plain_data_problem(data) -> str | None:
    """The first non-finite number (with its key path), or a sweep too large once its YAML aliases are expanded."""
    stack, seen = [("", data)], 0
    while stack:
        where, value = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            return (
                f"more than {MAX_NODES} values once YAML aliases are expanded (a YAML alias bomb?); "
                "a sweep file is far smaller"
            )
        if isinstance(value, float) and not math.isfinite(value):
            return f"{where or '(top level)'}: {value} is not allowed; numbers must be finite (no NaN or infinity)"
        if isinstance(value, dict):
            stack += [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    return None

"""The sweep a Python call names: a file, a built-in name or a dict, with `set=` overrides, as `tuning run` reads it.

`set={"search.num_samples": 8}` means `--set search.num_samples=8`: each value goes through the same override
code as the command line's (written as JSON, which the sweep's YAML reader reads back as the same value), so a bad
key or value is the same SweepError the CLI prints for exit 2.
"""

import copy
import json
import os
from collections.abc import Mapping

from tuning.errors import UserError

DICT_ORIGIN = "the sweep dict"  # names a dict sweep in error messages, as a file's path names a file
DICT_NAME = "sweep"  # the experiment name of a dict sweep that gives none (a file's default is its stem)


def overrides(values, name: str | None = None) -> list[str]:
    """`set=` (a mapping of dotted keys to plain values) and `name=` as the CLI's `--set KEY=VALUE` strings."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise UserError(
            f"set: expected a mapping of dotted keys to values, e.g. set={{'search.num_samples': 8}}, "
            f"got {type(values).__name__}"
        )
    pairs = list(values.items()) + ([("name", name)] if name is not None else [])
    out = []
    for key, value in pairs:
        if not isinstance(key, str) or not key or "=" in key:
            raise UserError(f"set: {key!r} is not a dotted key of the sweep, e.g. 'search.num_samples'")
        try:
            text = json.dumps(value, allow_nan=False)
        except ValueError:
            raise UserError(
                f"--set {key}: {value} is not allowed; numbers must be finite (no NaN or infinity)"
            ) from None
        except TypeError:
            raise UserError(
                f"--set {key}: a {type(value).__name__} is not a value a sweep file can hold "
                "(numbers, strings, booleans, None, lists and mappings of them)"
            ) from None
        out.append(f"{key}={text}")
    return out


def sweep_config(sweep, values=None, name: str | None = None):
    """The checked SweepConfig of a sweep file, a built-in sweep name or a dict, with `set=` and `name=` applied."""
    from tuning.sweep.config import load_sweep

    given = overrides(values, name)
    if isinstance(sweep, Mapping):
        return _from_dict(sweep, given)
    if isinstance(sweep, (str, os.PathLike)):
        return load_sweep(os.fspath(sweep), given)
    raise UserError(f"sweep: expected a sweep file, a built-in sweep name or a dict, got {type(sweep).__name__}")


def _from_dict(data: Mapping, given: list[str]):
    """What load_sweep does with a file's data, for a dict: LightningCLI's section forms, overrides, the checks."""
    from tuning.sweep.config import parse_sweep
    from tuning.sweep.file import apply_overrides
    from tuning.sweep.lightning_cli import normalize_sections

    try:
        data = copy.deepcopy(dict(data))  # the caller's dict stays as it was
    except Exception as exc:  # an object inside that cannot be copied is no sweep value either
        raise UserError(f"{DICT_ORIGIN}: holds a value that is not plain data ({type(exc).__name__}: {exc})") from None
    data = apply_overrides(normalize_sections(data), given)
    if "name" not in data:
        data["name"] = DICT_NAME
    return parse_sweep(data, origin=DICT_ORIGIN)

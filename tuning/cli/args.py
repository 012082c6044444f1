"""Arguments that several verbs share: the sweep (with --set) and the experiment name."""

import argparse
import re


def add_sweep_args(parser, optional: bool) -> None:
    """The sweep file or built-in name, and the repeatable --set KEY=VALUE."""
    if optional:
        parser.add_argument("sweep", nargs="?", default="quickstart",
                            help="a sweep file or a built-in sweep name (default: quickstart)")
    else:
        parser.add_argument("sweep", help="a sweep file or a built-in sweep name")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the sweep file, value as YAML (repeatable)")


def experiment_name(value: str) -> str:
    """The argparse type of --name: checked like the sweep's `name`, so the experiment stays inside the storage."""
    from tuning.config import NAME_PATTERN  # here, so `tuning --help` does not load pydantic

    if not re.fullmatch(NAME_PATTERN, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an experiment name: letters, digits, _ . -, starting "
                                         "with a letter or digit (it names one directory inside the storage)")
    return value

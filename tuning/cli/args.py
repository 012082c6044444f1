"""Arguments that several verbs share: the sweep (with --set) and the experiment name."""

import argparse
import re


def add_sweep_args(parser, optional: bool) -> None:
    """The sweep file or built-in name, and the repeatable --set KEY=VALUE."""
    if optional:
        parser.add_argument(
            "sweep", nargs="?", default="quickstart", help="a sweep file or a built-in sweep name (default: quickstart)"
        )
    else:
        parser.add_argument("sweep", help="a sweep file or a built-in sweep name")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the sweep file, value as YAML (repeatable)",
    )


# An experiment name is one directory, and tuning makes longer names from it (`tuning-NAME-xxxxxxxx` job ids,
# `.tuning-job-tuning-NAME-xxxxxxxx.yaml`, `NAME-confirm`): 200 leaves them all under a file name's 255 bytes.
MAX_NAME_CHARS = 200


def experiment_name(value: str) -> str:
    """The argparse type of --name: checked like the sweep's `name`, so the experiment stays inside the storage."""
    from tuning.sweep.config import NAME_PATTERN  # here, so `tuning --help` does not load pydantic

    if not re.fullmatch(NAME_PATTERN, value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an experiment name: letters, digits, _ . -, starting "
            "with a letter or digit (it names one directory inside the storage)"
        )
    if len(value) > MAX_NAME_CHARS:
        raise argparse.ArgumentTypeError(
            f"{value[:20]}... is {len(value)} characters long, {MAX_NAME_CHARS} at most "
            "(it names a directory, and the files named after it must fit a file "
            "name's 255 bytes)"
        )
    return value


def ray_address(value: str) -> str:
    """The argparse type of `run`'s and `confirm`'s --address: a Ray address (`auto`, HOST:PORT, ray://HOST:PORT),
    never the dashboard's URL, which is what `tuning submit` takes."""
    scheme = value.split("://", 1)[0].lower() if "://" in value else None
    if scheme in ("http", "https"):
        raise argparse.ArgumentTypeError(
            f"{value} is the Ray dashboard's address (the Jobs API): --address here takes the cluster's Ray address, "
            "HEAD:6379 or ray://HEAD:10001 (or `auto` on a node of it); to run the sweep as a job through the "
            f"dashboard, use: tuning submit SWEEP --address {value}"
        )
    if not value.strip() or (scheme is not None and scheme != "ray"):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Ray address: expected HEAD:6379, ray://HEAD:10001 or auto"
        )
    return value

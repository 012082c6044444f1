"""The finder subcommands of `tuning`: find-lr and find-batch-size (parsing only; work in tuning.trial.finders).

Like commands.py, nothing here imports torch or ray at import time.
"""

import sys
from pathlib import Path

from tuning.cli.args import add_sweep_args


def _find_lr(args) -> None:
    from tuning.sweep.config import load_sweep
    from tuning.trial import find_lr

    cfg = load_sweep(args.sweep, args.set)
    plot = Path(args.plot or f"{cfg.name}-lr-finder.png")
    found = find_lr(cfg, plot, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps)
    print(f"suggested learning rate: {found.value:.3g}")
    print(
        f"loss-vs-lr plot: {plot}\nuse it: {_use(found, f'{found.value:.3g}')}, or center the lr range of "
        "search.space on it",
        file=sys.stderr,
    )


def _use(found, value: str) -> str:
    """The `--set` line that gives the sweep what a finder found, naming the argument it is for."""
    if not found.keys:
        return "in the module's code (no argument of its constructor sets it)"
    return " ".join(f"--set {key}={value}" for key in found.keys)


def _find_batch_size(args) -> None:
    from tuning.sweep.config import load_sweep
    from tuning.trial import find_batch_size

    cfg = load_sweep(args.sweep, args.set)
    found = find_batch_size(cfg, args.mode)
    print(f"largest batch size that fits: {found.value}")
    print(
        f"use it: {_use(found, str(found.value))}\n({args.mode} search on {cfg.trainer.get('accelerator', 'auto')}; "
        "per trial, set trial.auto_batch_size: true to scale each trial's batch before it fits)",
        file=sys.stderr,
    )


def _add_find_lr(sub, name: str) -> None:
    lr = sub.add_parser(
        name,
        help="Lightning's learning-rate finder on the sweep's base config",
        description="Run Lightning's learning-rate finder on the model, data and trainer of the "
        "sweep file (no sampled values), print the suggested LR and save the "
        "loss-vs-lr plot. Example: tuning find-lr quickstart --plot lr.png",
    )
    add_sweep_args(lr, optional=False)
    lr.add_argument("--plot", help="where to save the PNG plot (default: <sweep name>-lr-finder.png)")
    lr.add_argument("--min-lr", type=float, default=1e-8, help="smallest learning rate tried (default 1e-8)")
    lr.add_argument("--max-lr", type=float, default=1.0, help="largest learning rate tried (default 1)")
    lr.add_argument("--steps", type=int, default=100, help="training steps, one learning rate each (default 100)")
    lr.set_defaults(func=_find_lr)


def _add_find_batch_size(sub, name: str) -> None:
    bs = sub.add_parser(
        name,
        help="Lightning's batch-size scaler on the sweep's base config",
        description="Run Lightning's batch-size scaler on the sweep's base config and print the "
        "largest batch size that fits in memory (on a GPU sweep, run it where the "
        "GPU is). Example: tuning find-batch-size quickstart --mode binsearch",
    )
    add_sweep_args(bs, optional=False)
    bs.add_argument(
        "--mode",
        choices=["power", "binsearch"],
        default="power",
        help="power: double until it fails; binsearch: then search between the last two (default power)",
    )
    bs.set_defaults(func=_find_batch_size)


# name -> the function that adds its parser (tuning.cli.commands lists every verb)
COMMANDS = {"find-lr": _add_find_lr, "find-batch-size": _add_find_batch_size}

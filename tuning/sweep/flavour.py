"""The two Lightning distributions a sweep may use: `lightning.pytorch` and `pytorch_lightning`.

The unified `lightning` package (`import lightning as L`, as Lightning's docs teach) and the older
`pytorch_lightning` package hold the same code twice, as distinct classes: a Trainer of one refuses a
LightningModule of the other. A sweep therefore uses one of them throughout, the one its
LightningModule derives from; the trial's Trainer, logger, callbacks, profiler and Tune report all
come from it. The built-in models and data modules derive from `lightning.pytorch`.
"""

import importlib
import sys
from functools import lru_cache

NAMES = ("lightning.pytorch", "pytorch_lightning")
DEFAULT = "lightning.pytorch"  # where the built-ins live, and what a sweep without classes uses

# Where each distribution defines the classes the checks need: kind -> (module below the root, class).
_DEFINED = {
    "model": ("core.module", "LightningModule"),
    "data": ("core.datamodule", "LightningDataModule"),
    "callback": ("callbacks.callback", "Callback"),
    "trainer": ("trainer.trainer", "Trainer"),
}


def defined_at(name: str, kind: str) -> tuple[str, str]:
    """(module, class) where distribution `name` defines the base class of `kind` (model, data, ...)."""
    module, cls = _DEFINED[kind]
    return f"{name}.{module}", cls


def module(name: str = DEFAULT):
    """The distribution's top-level module (`lightning.pytorch` or `pytorch_lightning`), imported."""
    return importlib.import_module(name)


def fabric(name: str, submodule: str):
    """A module of the Fabric that comes with distribution `name` (`lightning.fabric` or `lightning_fabric`)."""
    root = "lightning.fabric" if name == "lightning.pytorch" else "lightning_fabric"
    return importlib.import_module(f"{root}.{submodule}")


def base(name: str, kind: str) -> type:
    """The base class of `kind` in distribution `name`, e.g. base('pytorch_lightning', 'model')."""
    where, cls = defined_at(name, kind)
    return getattr(importlib.import_module(where), cls)


@lru_cache(maxsize=None)
def callback_class(mixin: type, name: str) -> type:
    """`mixin` (a class holding a callback's hooks) made a Callback of distribution `name`, once per distribution."""
    return type(mixin.__name__, (mixin, base(name, "callback")), {})


def of_class(cls: type, kind: str) -> str | None:
    """Which distribution's base of `kind` the class derives from; None if neither.

    A class deriving from a distribution has imported it, so only loaded distributions are asked.
    """
    for name in NAMES:
        if name in sys.modules and isinstance(cls, type) and issubclass(cls, base(name, kind)):
            return name
    return None


def of_object(obj) -> str:
    """The distribution of a built LightningModule (what a trial's Trainer must come from)."""
    return of_class(type(obj), "model") or DEFAULT

"""Random state in checkpoints: a retried trial continues the random stream (data order, dropout)
where its checkpoint left it, instead of replaying the stream from its seed.

Lightning's checkpoints hold model, optimizer and LR-scheduler state but no RNG state.
"""

import random

import numpy as np
import torch

from tuning.sweep import flavour


def rng_state(dist: str):
    """An RngState callback of Lightning distribution `dist`."""
    return flavour.callback_class(RngState, dist)()


class RngState:
    """Saves torch, CUDA, numpy and Python global RNG states with each checkpoint; restores them on resume.

    The states are restored when the first epoch after the restore starts, not when the checkpoint is
    loaded: on a restart Lightning builds a throwaway train-loader iterator first, which draws from the
    global generator (measured with Lightning 2.6), and the saved states are those of an epoch's start.

    Written as a mixin: `rng_state` makes it a Callback of the sweep's distribution.
    """

    def __init__(self):
        self._pending = None

    @property
    def state_key(self) -> str:
        return "tuning.RngState"

    def state_dict(self) -> dict:
        # Plain tensors, lists and numbers only: checkpoints are loaded with torch.load(weights_only=True).
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        version, python_state, python_gauss = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": [version, list(python_state), python_gauss],
        }

    def load_state_dict(self, state: dict) -> None:
        self._pending = state

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._pending is not None:
            _set_states(self._pending)
            self._pending = None


def _set_states(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, python_state, python_gauss = state["python"]
    random.setstate((version, tuple(python_state), python_gauss))

"""A LightningModule that records, at each (re)start of training, its weights and its optimizer's lr."""

import hashlib
import json

import torch

from tests.user_models import LinearClassifier


def weights_digest(state_dict: dict) -> str:
    """A digest of a state dict's tensors, to compare weights across processes and files."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        h.update(key.encode())
        h.update(state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ProbeClassifier(LinearClassifier):
    """LinearClassifier (Adam) that appends {epoch, weights, lr, hparams lr} to `probe_file` on train start."""

    def __init__(self, width: int = 64, lr: float = 0.01, probe_file: str = ""):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    def on_train_start(self):
        record = {"epoch": self.current_epoch, "weights": weights_digest(self.state_dict()),
                  "optimizer_lr": self.trainer.optimizers[0].param_groups[0]["lr"], "lr": self.hparams.lr}
        with open(self.hparams.probe_file, "a") as fh:
            fh.write(json.dumps(record) + "\n")

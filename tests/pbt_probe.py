"""A LightningModule that records, at each (re)start of training, its weights and its optimizer's lr."""

import hashlib
import json
import time

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
    """LinearClassifier (Adam) appending to `probe_file` the weights and lr of every checkpoint it saves, and at
    each (re)start of training its weights, its optimizer's lr and its own configured lr."""

    def __init__(
        self, width: int = 64, lr: float = 0.01, probe_file: str = "", epoch_seconds: float = 0.0, after_lr: float = 0.0
    ):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def on_train_epoch_end(self):
        # Slow epochs keep the population's trials running side by side, so PBT has peers to compare.
        time.sleep(self.hparams.epoch_seconds)
        if self.hparams.after_lr:
            self._wait_for_checkpoint_of(self.hparams.after_lr)

    def _wait_for_checkpoint_of(self, lr: float, limit_s: float = 120.0) -> None:
        """Ends this epoch only after a trial with `lr` saved a checkpoint (then one second more, for its report
        to reach the driver): an order of reports that holds on a busy machine, where a fixed sleep did not."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                with open(self.hparams.probe_file) as fh:
                    if any(json.loads(line).get("saved") and json.loads(line)["lr"] == lr for line in fh):
                        break
            except FileNotFoundError:
                pass
            time.sleep(0.2)
        time.sleep(1.0)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    def on_save_checkpoint(self, checkpoint):
        self._append({"saved": weights_digest(checkpoint["state_dict"]), "lr": self.hparams.lr})

    def _append(self, record: dict) -> None:
        with open(self.hparams.probe_file, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def on_train_start(self):
        self._append(
            {
                "epoch": self.current_epoch,
                "weights": weights_digest(self.state_dict()),
                "optimizer_lr": self.trainer.optimizers[0].param_groups[0]["lr"],
                "lr": self.hparams.lr,
            }
        )

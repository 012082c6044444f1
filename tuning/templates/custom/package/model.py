"""Your LightningModule. Replace the network and the loss; keep logging the sweep metric per epoch."""

import lightning as L
import torch
from torch.nn import functional as F


class Model(L.LightningModule):
    """A regression model: every __init__ argument can be searched as model.init_args.<name>."""

    def __init__(self, in_features: int = 16, hidden_dim: int = 32, lr: float = 1e-3):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(in_features, hidden_dim), torch.nn.Tanh(), torch.nn.Linear(hidden_dim, 1)
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        # The sweep metric: an epoch-level mean over all validation samples, synced across devices.
        self.log("val_loss", F.mse_loss(self(x), y), on_epoch=True, batch_size=len(y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

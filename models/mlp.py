"""A multi-layer perceptron classifier for tabular features."""

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F


class MLPClassifier(L.LightningModule):
    """An MLP classifier; logs train_loss, val_loss and val_acc as epoch means over every sample."""

    def __init__(
        self,
        input_dim: int = 64,
        num_classes: int = 10,
        hidden_dim: int = 128,
        num_layers: int = 2,
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        layers, width = [], input_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        # batch_size makes the epoch value a mean over samples, not over batches of unequal size.
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        if stage != "train":
            acc = (logits.argmax(dim=1) == y).float().mean()
            self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

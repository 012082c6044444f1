"""A user's project written against the older `pytorch_lightning` distribution: model and data."""

import pytorch_lightning as pl
import torch
from sklearn.datasets import load_digits
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class LegacyDigits(pl.LightningDataModule):
    """scikit-learn's digits, 1500 to train and the rest to validate."""

    def __init__(self, batch_size: int = 64):
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage=None):
        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x / 16.0, dtype=torch.float32)
        y = torch.tensor(y)
        self.train, self.val = TensorDataset(x[:1500], y[:1500]), TensorDataset(x[1500:], y[1500:])

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)


class LegacyClassifier(pl.LightningModule):
    """Softmax regression; with `fail` its training raises in the second epoch, after a first report."""

    def __init__(self, lr: float = 0.05, fail: bool = False):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(64, 10)

    def training_step(self, batch, batch_idx):
        if self.hparams.fail and self.current_epoch == 1:
            raise RuntimeError("boom in epoch 1")
        x, y = batch
        return F.cross_entropy(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self.layer(x), y), batch_size=len(y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

"""Your LightningDataModule. Replace `setup` with your own loading; keep the validation set fixed."""

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset


class Data(L.LightningDataModule):
    """A synthetic regression problem: y = sin(x . w) + noise, the same for every trial."""

    def __init__(self, in_features: int = 16, num_samples: int = 2000, batch_size: int = 64, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()

    def prepare_data(self):
        # Download or preprocess here: it runs once, in the driver, before any trial starts.
        pass

    def setup(self, stage=None):
        g = torch.Generator().manual_seed(self.hparams.seed)
        x = torch.randn(self.hparams.num_samples, self.hparams.in_features, generator=g)
        w = torch.randn(self.hparams.in_features, generator=g)
        y = torch.sin(x @ w) + 0.1 * torch.randn(self.hparams.num_samples, generator=g)
        n_val = self.hparams.num_samples // 5
        self.train_set = TensorDataset(x[n_val:], y[n_val:])
        self.val_set = TensorDataset(x[:n_val], y[:n_val])

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

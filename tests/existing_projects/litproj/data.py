"""scikit-learn's bundled digits (no download) as a LightningDataModule, split with a fixed seed."""

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split


class DigitsData(L.LightningDataModule):
    """8x8 digits as 64 features scaled to [0, 1]; the same train/val split on every call."""

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.25, split_seed: int = 0):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None):
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        full = TensorDataset(torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y, dtype=torch.long))
        n_val = int(len(full) * self.hparams.val_fraction)
        self.train_set, self.val_set = random_split(
            full, [len(full) - n_val, n_val], generator=torch.Generator().manual_seed(self.hparams.split_seed)
        )

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

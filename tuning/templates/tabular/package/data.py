"""The data: a CSV file of numeric feature columns and one integer label column."""

import csv

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split


class CSVData(L.LightningDataModule):
    """Reads `path`, standardizes the features, splits train/val with a fixed seed."""

    def __init__(
        self,
        path: str = "data/train.csv",
        label_column: str = "label",
        batch_size: int = 64,
        val_fraction: float = 0.2,
        split_seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage=None):
        with open(self.hparams.path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        label = self.hparams.label_column
        features = [c for c in rows[0] if c != label]
        x = torch.tensor([[float(r[c]) for c in features] for r in rows])
        y = torch.tensor([int(r[label]) for r in rows])
        x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
        n_val = int(len(y) * self.hparams.val_fraction)
        # The same split for every trial: best-epoch ranking compares trials on one validation set.
        generator = torch.Generator().manual_seed(self.hparams.split_seed)
        self.train_set, self.val_set = random_split(TensorDataset(x, y), [len(y) - n_val, n_val], generator=generator)

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

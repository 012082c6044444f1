"""A base DataModule for data that fits in memory as a feature matrix and a label vector."""

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, torch.Tensor]:
    """Disjoint index sets for train, val and test; the same for the same seed, whatever the trial."""
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction must be in (0, 1), test_fraction in [0, 1), and their sum below 1")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    return {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}


class ArrayDataModule(L.LightningDataModule):
    """Splits (x, y) from `load_arrays()` with a fixed seed and standardizes x with train statistics.

    Subclasses call `self.save_hyperparameters()` with at least batch_size, num_workers,
    val_fraction, test_fraction and split_seed, and implement `load_arrays`.
    """

    def load_arrays(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (float32, n x d) and integer labels (n)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "datasets", None):
            return
        x, y = self.load_arrays()
        hp = self.hparams
        parts = split_indices(len(y), hp.val_fraction, hp.test_fraction, hp.split_seed)
        train_x = x[parts["train"]]
        std = train_x.std(dim=0)
        # A constant column (blank border pixels) is centred, not blown up by a near-zero std.
        x = (x - train_x.mean(dim=0)) / torch.where(std > 1e-6, std, torch.ones_like(std))
        self.datasets = {name: TensorDataset(x[idx], y[idx]) for name, idx in parts.items()}

    def _loader(self, split: str) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            self.datasets[split],
            batch_size=self.hparams.batch_size,
            shuffle=split == "train",
            num_workers=workers,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

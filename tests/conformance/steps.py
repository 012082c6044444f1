"""What every conformance module shares, whichever Lightning distribution it derives from: a step, its own
tiny dataloader (so a Trainer can fit it without a data module) and a default optimizer."""

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

IN_DIM = 8  # inputs of every conformance network


def tiny_loader(in_dim: int = IN_DIM, out_dim: int = 4, num_samples: int = 16, batch_size: int = 4) -> DataLoader:
    """A fixed random regression set, small enough for a step in milliseconds."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(num_samples, in_dim, generator=gen), torch.randn(num_samples, out_dim, generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


class Steps:
    """Mixed into a LightningModule of either distribution; `forward` maps IN_DIM inputs to any width."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x).mean(dim=1), y.mean(dim=1))  # any output width trains

    def train_dataloader(self):
        return tiny_loader()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=getattr(self.hparams, "lr", 0.01))


class DataSteps:
    """Mixed into a LightningDataModule of either distribution with `batch_size`, `num_samples`, `in_dim`."""

    def train_dataloader(self):
        return tiny_loader(self.in_dim, num_samples=self.num_samples, batch_size=self.batch_size)

"""Conformance modules of the older package (`pytorch_lightning`): the same shapes, distinct classes."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from tests.conformance.steps import DataSteps, Steps


class PLInjectedModel(Steps, pl.LightningModule):
    """A nested network and an injected optimizer and scheduler, on `pytorch_lightning`."""

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: LRSchedulerCallable = torch.optim.lr_scheduler.ConstantLR,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.backbone = backbone
        self.optimizer = optimizer
        self.scheduler = scheduler

    def forward(self, x):
        return self.backbone(x)

    def configure_optimizers(self):
        optimizer = self.optimizer(self.parameters())
        return [optimizer], [self.scheduler(optimizer)]


class PLData(DataSteps, pl.LightningDataModule):
    """A `pytorch_lightning` data module with plain arguments."""

    def __init__(self, batch_size: int = 4, num_samples: int = 16, in_dim: int = 8):
        super().__init__()
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.num_samples = num_samples
        self.in_dim = in_dim

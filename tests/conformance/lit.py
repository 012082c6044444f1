"""Conformance modules of the unified package (`import lightning as L`, `lightning.pytorch`)."""

from typing import Any, Optional

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from tests.conformance.nets import Head
from tests.conformance.steps import DataSteps, Steps


class BackboneModel(Steps, L.LightningModule):
    """A network passed in whole (`backbone: {class_path, init_args}`), as Lightning's docs teach."""

    def __init__(self, backbone: nn.Module, lr: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.backbone = backbone

    def forward(self, x):
        return self.backbone(x)


class ListModel(Steps, L.LightningModule):
    """Layers as a list of modules, applied in turn."""

    def __init__(self, layers: list[nn.Module], lr: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class InjectedModel(Steps, L.LightningModule):
    """Optimizer and scheduler injected as callables (LightningCLI's dependency injection)."""

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


class DictModel(Steps, L.LightningModule):
    """Dict-typed arguments: plain values (`sizes`, `options` stays a dict whatever it holds) and modules by name."""

    def __init__(self, sizes: dict[str, int], heads: dict[str, nn.Module], options: Optional[dict[str, Any]] = None):
        super().__init__()
        self.save_hyperparameters()
        self.sizes = sizes
        self.options = options
        self.body = nn.Linear(8, sizes["hidden"])
        self.heads = nn.ModuleDict(heads)

    def forward(self, x):
        return self.heads["main"](self.body(x))


class HeadModel(Steps, L.LightningModule):
    """An argument typed with a base class (`head: Head`) that the config gives a subclass of."""

    def __init__(self, backbone: nn.Module, head: Head, lr: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.backbone = backbone
        self.head = head
        self.out_dim = head.num_classes

    def forward(self, x):
        return self.head(self.backbone(x))


class DefaultsModel(Steps, L.LightningModule):
    """Everything has a default, nested classes and callables too; a config may give nothing."""

    def __init__(
        self,
        hidden_dim: int = 12,
        lr: float = 0.05,
        activation: str = "relu",
        optimizer: OptimizerCallable = torch.optim.SGD,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.optimizer = optimizer
        self.net = nn.Sequential(
            nn.Linear(8, hidden_dim),
            nn.ReLU() if activation == "relu" else nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, 4),
        )

    def forward(self, x):
        return self.net(x)


class OptionalModel(Steps, L.LightningModule):
    """Optional arguments a config sets to null: a module, a number and a scheduler callable."""

    def __init__(
        self,
        backbone: nn.Module,
        head: Optional[Head] = None,
        dropout: Optional[float] = 0.25,
        scheduler: Optional[LRSchedulerCallable] = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.backbone = backbone
        self.head = head
        self.dropout = dropout
        self.scheduler = scheduler

    def forward(self, x):
        x = self.backbone(x)
        return self.head(x) if self.head is not None else x


class TinyData(DataSteps, L.LightningDataModule):
    """A data module with plain arguments and an optional transform module."""

    def __init__(
        self, batch_size: int = 4, num_samples: int = 16, in_dim: int = 8, transform: Optional[nn.Module] = None
    ):
        super().__init__()
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.num_samples = num_samples
        self.in_dim = in_dim
        self.transform = transform

"""Modules written the way a Hydra project (the Lightning + Hydra template) writes them: a network and a
partial optimizer passed in by `hydra.utils.instantiate`, or a network node the module builds itself."""

import lightning as L
from torch import nn

from tests.conformance.steps import DataSteps, Steps


class HydraLitModule(Steps, L.LightningModule):
    """As the template's MNISTLitModule: `net` an instance, `optimizer`/`scheduler` partials (`_partial_: true`)."""

    def __init__(self, net: nn.Module, optimizer=None, scheduler=None, compile: bool = False):
        super().__init__()
        self.save_hyperparameters(logger=False, ignore=["net"])
        self.net = net

    def forward(self, x):
        return self.net(x)

    def configure_optimizers(self):
        optimizer = self.hparams.optimizer(params=self.parameters())
        if self.hparams.scheduler is None:
            return optimizer
        return [optimizer], [self.hparams.scheduler(optimizer=optimizer)]


class SelfBuildingModule(Steps, L.LightningModule):
    """Takes its network's node unbuilt (`_recursive_: false`) and instantiates it itself."""

    def __init__(self, net, lr: float = 0.01):
        super().__init__()
        from hydra.utils import instantiate

        self.net_config = net
        self.net = instantiate(net)
        self.lr = lr

    def forward(self, x):
        return self.net(x)


class ContainerModule(Steps, L.LightningModule):
    """Keeps its container arguments as given, so a test can see what `_convert_` made of them."""

    def __init__(self, sizes, layers):
        super().__init__()
        self.sizes = sizes
        self.layer_list = layers
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class HydraData(DataSteps, L.LightningDataModule):
    """A data module as `configs/data/*.yaml` describes one."""

    def __init__(self, batch_size: int = 4, num_samples: int = 16, in_dim: int = 8, transform=None):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.batch_size = batch_size
        self.num_samples = num_samples
        self.in_dim = in_dim
        self.transform = transform

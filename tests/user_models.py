"""A user's own LightningModule, as it would live in their package: resolved by dotted path in tests."""

import lightning as L
import torch
from torch.nn import functional as F


class LinearClassifier(L.LightningModule):
    """Softmax regression; `width` is required, so a missing argument can be tested."""

    def __init__(self, width: int, lr: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(width, 10)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self.layer(x), y), batch_size=len(y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class NotAModule:
    """Not a LightningModule: resolving it as a model must fail clearly."""

    def __init__(self):
        pass


class LearningRateClassifier(L.LightningModule):
    """Softmax regression whose rate is the attribute `learning_rate` (the LR finder's other name), with no `lr`."""

    def __init__(self, width: int = 64, learning_rate: float = 0.01):
        super().__init__()
        self.learning_rate = learning_rate
        self.layer = torch.nn.Linear(width, 10)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self.layer(x), y), batch_size=len(y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.learning_rate)


class NoRateClassifier(LearningRateClassifier):
    """The same model with its rate fixed inside: nothing for the LR finder to set."""

    def __init__(self, width: int = 64):
        super().__init__(width=width)
        del self.learning_rate

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

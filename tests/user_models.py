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


class RunningBest(LinearClassifier):
    """Trains normally but logs `val/acc` = `accs[epoch]`, its running best `val/acc_best` (equal across the epochs
    after it stops improving, as a torchmetrics MaxMetric is) and `val/loss` = `losses[epoch]`: a test knows the
    epochs each one ranks."""

    def __init__(
        self,
        width: int = 64,
        lr: float = 0.05,
        accs: tuple = (0.5, 0.8, 0.6, 0.7),
        losses: tuple = (3.0, 2.0, 1.0, 4.0),
    ):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()

    def validation_step(self, batch, batch_idx):
        accs = self.hparams.accs[: self.current_epoch + 1]
        self.log_dict(
            {
                "val/acc": float(accs[-1]),
                "val/acc_best": float(max(accs)),
                "val/loss": float(self.hparams.losses[self.current_epoch]),
            }
        )

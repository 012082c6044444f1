"""A user's LightningCLI entry point with fixed classes, as Lightning's docs write it: `LightningCLI(Model, Data)`."""

from lightning.pytorch.cli import LightningCLI

from tests.user_models import LinearClassifier
from tuning.data.digits import DigitsDataModule

if __name__ == "__main__":
    LightningCLI(LinearClassifier, DigitsDataModule)

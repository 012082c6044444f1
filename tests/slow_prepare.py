"""A user's DataModule whose preparation takes its time, for tests/tuning/driver/test_sigterm_preparing.py: `tuning run`
prepares the data once in the driver, after Ray has started and before Tune's fit; a test stops it there."""

import time
from pathlib import Path

from tuning.data.digits import DigitsDataModule


class SlowToPrepare(DigitsDataModule):
    """Digits whose prepare_data touches `marker` (the driver is preparing now) and then waits `seconds`."""

    def __init__(self, marker: str = "", seconds: float = 120.0, batch_size: int = 64):
        super().__init__(batch_size=batch_size)
        self.save_hyperparameters()

    def prepare_data(self) -> None:
        Path(self.hparams.marker).touch()
        time.sleep(self.hparams.seconds)

"""Every registered LightningModule trains on digits and logs val_loss as the mean over the whole val set."""

import pytest
import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from models import MODELS
from tuning.classes import resolve_class


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_trains_and_logs_the_exact_validation_mean(name):
    from data.digits import DigitsDataModule

    pl.seed_everything(0, verbose=False)
    # 25 does not divide the val set (359 samples): a mean of batch means would differ from the true mean.
    dm = DigitsDataModule(batch_size=25)
    model = resolve_class("model", name)()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    logged = trainer.callback_metrics["val_loss"].item()

    model.eval()
    x, y = dm.datasets["val"].tensors
    with torch.no_grad():
        expected = F.cross_entropy(model(x), y).item()
    assert logged == pytest.approx(expected, rel=1e-5)
    assert logged < 2.3  # below chance (ln 10) after two epochs
    assert {"val_loss", "val_acc", "train_loss"} <= set(trainer.callback_metrics)

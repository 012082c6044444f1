"""Every registered LightningModule trains on data it fits and logs val_loss as the mean over the whole val set."""

import math
from collections.abc import Mapping

import lightning.pytorch as pl
import pytest
import torch
from torch.nn import functional as F

from tuning.models import MODELS
from tuning.sweep.class_paths import resolve_class


def example(name: str, tmp_path) -> tuple[dict, pl.LightningDataModule, int]:
    """(init args, data module, number of classes) for each registered model; a new entry adds its own here.

    Validation batches of 25 do not divide the val sets (359 digits, 30 texts): a mean of batch
    means would differ from the true mean.
    """
    if name == "mlp":
        from tuning.data.digits import DigitsDataModule

        return {}, DigitsDataModule(batch_size=25), 10
    if name == "text_classifier":
        from tests.text_data import text_files
        from tuning.data.text_classification import TextClassificationDataModule

        dm = TextClassificationDataModule(
            data_files=text_files(tmp_path / "text"),
            cache_dir=str(tmp_path / "c"),
            wordpiece_vocab_size=120,
            batch_size=25,
        )
        return {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "lr": 5e-3}, dm, 3
    raise KeyError(f"add an example for the registered model '{name}'")


def forward(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) for a (features, labels) batch or a dict batch of token ids with labels."""
    if isinstance(batch, Mapping):
        return model(batch), batch["labels"]
    return model(batch[0]), batch[1]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_trains_and_logs_the_exact_validation_mean(name, tmp_path):
    pl.seed_everything(0, verbose=False)
    args, dm, num_classes = example(name, tmp_path)
    model = resolve_class("model", name)(**args)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    logged = trainer.callback_metrics["val_loss"].item()

    model.eval()
    with torch.no_grad():
        logits, labels = zip(*(forward(model, batch) for batch in dm.val_dataloader()))
    expected = F.cross_entropy(torch.cat(logits), torch.cat(labels)).item()
    assert logged == pytest.approx(expected, rel=1e-5)
    assert logged < math.log(num_classes)  # below chance after two epochs
    assert {"val_loss", "val_acc", "train_loss"} <= set(trainer.callback_metrics)

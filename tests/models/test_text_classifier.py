"""text_classifier: labels from the data module, a save_pretrained directory as `pretrained:`, checkpoints."""

import lightning.pytorch as pl
import pytest
import torch

from tests.text_data import sentences, text_files
from tuning.data.text_classification import TextClassificationDataModule
from tuning.models.text_classifier import TextClassifier

TINY = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def fit(model, dm, root, epochs=1, **trainer_args):
    """Train on CPU for a few epochs; returns the trainer."""
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
        **trainer_args,
    )
    trainer.fit(model, datamodule=dm)
    return trainer


def test_labels_and_vocabulary_come_from_the_data_module_and_survive_a_checkpoint(tmp_path):
    pl.seed_everything(0, verbose=False)
    dm = TextClassificationDataModule(
        data_files=text_files(tmp_path / "t"), cache_dir=str(tmp_path / "c"), wordpiece_vocab_size=120, batch_size=16
    )
    model = TextClassifier(lr=3e-3, **TINY)
    assert model.model is None, "built once the data is known"
    trainer = fit(model, dm, tmp_path, epochs=2)
    assert model.hparams.num_labels == 3 and model.hparams.vocab_size == dm.vocab_size
    assert model.model.config.id2label == {0: "cooking", 1: "music", 2: "sports"}
    assert {"val_loss", "val_acc", "val_f1", "train_loss"} <= set(trainer.callback_metrics)

    trainer.save_checkpoint(tmp_path / "m.ckpt")
    restored = TextClassifier.load_from_checkpoint(tmp_path / "m.ckpt")
    batch = next(iter(dm.val_dataloader()))
    model.eval(), restored.eval()
    with torch.no_grad():
        assert torch.allclose(model(batch), restored(batch))


def test_a_save_pretrained_directory_loads_through_pretrained_like_a_hub_name(tmp_path):
    from transformers import BertConfig, BertModel

    from tuning.data.tokenizer import train_wordpiece

    saved = tmp_path / "my-bert"
    tokenizer = train_wordpiece((t for t, _ in sentences(60, 3)), vocab_size=100)
    tokenizer.save_pretrained(str(saved))
    encoder = BertModel(
        BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    )
    encoder.save_pretrained(str(saved))

    dm = TextClassificationDataModule(
        data_files=text_files(tmp_path / "t"), tokenizer=str(saved), cache_dir=str(tmp_path / "c"), batch_size=16
    )
    model = TextClassifier(pretrained=str(saved), dropout=0.0)
    dm.setup()  # built by hand to compare the weights before training
    model.hparams.num_labels, model.hparams.label_names = dm.num_labels, dm.label_names
    model._build()
    loaded = model.model.base_model.embeddings.word_embeddings.weight
    assert torch.equal(loaded, encoder.embeddings.word_embeddings.weight), "the saved weights, not fresh ones"
    assert model.model.config.hidden_dropout_prob == 0.0 and model.model.config.num_labels == 3
    trainer = fit(model, dm, tmp_path)
    assert trainer.callback_metrics["val_loss"].isfinite()


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_lr_warms_up_then_follows_the_schedule(tmp_path, schedule):
    dm = TextClassificationDataModule(
        data_files=text_files(tmp_path / "t"), cache_dir=str(tmp_path / "c"), wordpiece_vocab_size=120, batch_size=10
    )
    model = TextClassifier(lr=1e-3, warmup_ratio=0.25, lr_schedule=schedule, **TINY)
    seen = []
    record = pl.callbacks.LambdaCallback(
        on_train_batch_start=lambda t, *_: seen.append(t.optimizers[0].param_groups[0]["lr"])
    )
    fit(model, dm, tmp_path, epochs=2, callbacks=[record])
    assert len(seen) == 18 and seen[0] == 0.0  # 90 texts / 10, twice; warmup starts from zero
    peak = seen.index(max(seen))
    assert peak == 4 and max(seen) == pytest.approx(1e-3)  # 25% of 18 steps
    assert seen[-1] < 0.2e-3 and all(a >= b for a, b in zip(seen[peak:], seen[peak + 1 :]))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="lr_schedule 'step' is not one of linear, cosine, constant"):
        TextClassifier(lr_schedule="step")
    with pytest.raises(ValueError, match="hidden_size 30 is not a multiple of num_heads 4"):
        TextClassifier(hidden_size=30, num_heads=4, num_labels=2, vocab_size=50)
    with pytest.raises(ValueError, match="architecture 'transformerz' is not a transformers model type"):
        TextClassifier(architecture="transformerz", num_labels=2, vocab_size=50)

"""A transformer sequence classifier: a pretrained Hub model or local directory, or a small one built from a config."""

import lightning as L
import torch

SCHEDULES = ("linear", "cosine", "constant")
DROPOUT_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout")


class TextClassifier(L.LightningModule):
    """`AutoModelForSequenceClassification`; logs train_loss, val_loss, val_acc and macro val_f1 per epoch.

    `pretrained` is a Hub name or a `save_pretrained` directory; without it a fresh `architecture`
    (a transformers model type with BERT-style config names: bert, roberta, electra...) of the given
    size is trained from scratch. `num_labels`, `label_names` and `vocab_size` default to the data
    module's (`trainer.datamodule.num_labels`, ...): the network is then built in `configure_model`,
    once the data is set up, and the values are saved with the checkpoint.
    """

    def __init__(
        self,
        pretrained: str | None = None,
        pretrained_revision: str | None = None,
        architecture: str = "bert",
        hidden_size: int = 128,
        num_layers: int = 2,
        num_heads: int = 2,
        intermediate_size: int = 256,
        max_position_embeddings: int = 512,
        dropout: float | None = 0.1,
        lr: float = 5e-4,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        lr_schedule: str = "linear",
        num_labels: int | None = None,
        label_names: list[str] | None = None,
        vocab_size: int | None = None,
    ):
        super().__init__()
        if lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule '{lr_schedule}' is not one of {', '.join(SCHEDULES)}")
        if not 0 <= warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {warmup_ratio}")
        self.save_hyperparameters()
        self.model = None
        if num_labels is not None and (pretrained is not None or vocab_size is not None):
            self._build()

    def configure_model(self) -> None:
        """Build the network once, filling what was not given from the data module."""
        if self.model is not None:
            return
        hp, dm = self.hparams, self.trainer.datamodule
        required = ["num_labels"] + (["vocab_size"] if hp.pretrained is None else [])
        for name in ["label_names", *required]:
            if hp[name] is None:
                hp[name] = getattr(dm, name, None)
            if hp[name] is None and name in required:
                raise ValueError(f"model.init_args.{name} is not set and the data module does not provide it")
            # Lightning logs the init args as given (hparams_initial) right after this hook: log the filled ones.
            self._hparams_initial[name] = hp[name]
        self._build(getattr(dm, "pad_token_id", None))

    def _build(self, pad_token_id: int | None = None) -> None:
        """The transformers model and the validation metrics, for hparams.num_labels classes."""
        from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
        from transformers import AutoModelForSequenceClassification

        hp = self.hparams
        config = self._config(pad_token_id)
        if hp.pretrained is None:
            self.model = AutoModelForSequenceClassification.from_config(config)
        else:
            # A checkpoint's own head (for another label set) is replaced instead of failing to load.
            self.model = AutoModelForSequenceClassification.from_pretrained(
                hp.pretrained, revision=hp.pretrained_revision, config=config, ignore_mismatched_sizes=True
            )
            self.model.train()  # from_pretrained returns eval mode, and Lightning keeps modules' modes
        self.val_acc = MulticlassAccuracy(num_classes=hp.num_labels, average="micro")
        self.val_f1 = MulticlassF1Score(num_classes=hp.num_labels, average="macro")

    def _config(self, pad_token_id: int | None):
        """The transformers config: the pretrained one with our labels and dropout, or a fresh one."""
        from transformers import AutoConfig

        hp = self.hparams
        names = hp.label_names or [str(i) for i in range(hp.num_labels)]
        if len(names) != hp.num_labels:
            raise ValueError(f"label_names has {len(names)} names for num_labels={hp.num_labels}")
        labels = {
            "num_labels": hp.num_labels,
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
        }
        if hp.pretrained is not None:
            config = AutoConfig.from_pretrained(hp.pretrained, revision=hp.pretrained_revision, **labels)
            for key in DROPOUT_KEYS:
                if hp.dropout is not None and hasattr(config, key):
                    setattr(config, key, hp.dropout)
            return config
        if hp.hidden_size % hp.num_heads:
            raise ValueError(f"hidden_size {hp.hidden_size} is not a multiple of num_heads {hp.num_heads}")
        dropout = 0.1 if hp.dropout is None else hp.dropout
        try:
            return AutoConfig.for_model(
                hp.architecture,
                vocab_size=hp.vocab_size,
                hidden_size=hp.hidden_size,
                num_hidden_layers=hp.num_layers,
                num_attention_heads=hp.num_heads,
                intermediate_size=hp.intermediate_size,
                max_position_embeddings=hp.max_position_embeddings,
                hidden_dropout_prob=dropout,
                attention_probs_dropout_prob=dropout,
                pad_token_id=pad_token_id or 0,
                **labels,
            )
        except ValueError:
            raise ValueError(
                f"architecture '{hp.architecture}' is not a transformers model type "
                "(for example bert, roberta, electra)"
            ) from None

    def forward(self, batch: dict) -> torch.Tensor:
        """Logits for a batch of token ids (labels, if present, are ignored)."""
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return self.model(**inputs).logits

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.cross_entropy(self(batch), batch["labels"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["labels"]))
        return loss

    def validation_step(self, batch, batch_idx):
        labels = batch["labels"]
        logits = self(batch)
        # batch_size makes the epoch value a mean over samples, not over batches of unequal size.
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, labels), batch_size=len(labels))
        self.val_acc.update(logits, labels)
        self.val_f1.update(logits, labels)
        self.log("val_acc", self.val_acc, on_epoch=True)
        self.log("val_f1", self.val_f1, on_epoch=True)

    def configure_optimizers(self):
        from transformers import get_scheduler

        hp = self.hparams
        # Biases and norm weights are not decayed (the usual recipe for transformers).
        decay = [p for n, p in self.named_parameters() if p.ndim > 1]
        rest = [p for n, p in self.named_parameters() if p.ndim <= 1]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=hp.lr
        )
        steps = self.trainer.estimated_stepping_batches
        schedule = get_scheduler(
            hp.lr_schedule if hp.lr_schedule != "constant" else "constant_with_warmup",
            optimizer,
            num_warmup_steps=int(hp.warmup_ratio * steps),
            num_training_steps=steps,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

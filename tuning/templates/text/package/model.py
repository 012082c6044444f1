"""The model: mean-pooled word embeddings and a linear layer. Replace it with any LightningModule."""

import lightning as L
import torch
from torch.nn import functional as F


class BagOfEmbeddings(L.LightningModule):
    """Classifies a batch of token ids; vocab_size and num_labels default to the data module's."""

    def __init__(
        self,
        vocab_size: int | None = None,
        num_labels: int | None = None,
        embed_dim: int = 64,
        dropout: float = 0.1,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.embed = self.head = None

    def configure_model(self):
        # The tokenizer and labels are only known once the data is prepared: take them from it.
        if self.embed is not None:
            return
        dm = self.trainer.datamodule
        self.hparams.vocab_size = self.hparams.vocab_size or dm.vocab_size
        self.hparams.num_labels = self.hparams.num_labels or dm.num_labels
        self.embed = torch.nn.Embedding(self.hparams.vocab_size, self.hparams.embed_dim, padding_idx=dm.pad_token_id)
        self.head = torch.nn.Sequential(
            torch.nn.Dropout(self.hparams.dropout), torch.nn.Linear(self.hparams.embed_dim, self.hparams.num_labels)
        )

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(pooled)

    def _step(self, batch, stage):
        logits = self(batch["input_ids"], batch["attention_mask"])
        loss = F.cross_entropy(logits, batch["labels"])
        n = len(batch["labels"])
        # Epoch-level means over every sample (batch_size weighs the last batch right), synced across devices.
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        if stage == "val":
            acc = (logits.argmax(1) == batch["labels"]).float().mean()
            self.log("val_acc", acc, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

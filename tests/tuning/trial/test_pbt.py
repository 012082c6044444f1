"""PBT's exploit, in Lightning alone: a checkpoint written under one lr, restored into a trial with another."""

import lightning.pytorch as pl

from tests.pbt_probe import ProbeClassifier, weights_digest
from tuning.data.digits import DigitsDataModule
from tuning.trial.pbt import keep_mutated_hyperparameters


def fit(lr: float, tmp_path, name: str, params: dict, ckpt_path=None, keep=True):
    pl.seed_everything(0, verbose=False)
    model = ProbeClassifier(lr=lr, probe_file=str(tmp_path / f"{name}.jsonl"))
    callbacks = [keep_mutated_hyperparameters("lightning.pytorch", params)] if keep else []
    trainer = pl.Trainer(
        max_epochs=2 if ckpt_path else 1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        limit_train_batches=3,
        limit_val_batches=1,
    )
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=32), ckpt_path=ckpt_path)
    return trainer


def test_the_recipient_keeps_its_mutated_lr_and_the_donors_weights(tmp_path):
    """The recipient's weights at its start are the donor's checkpoint, not where its own (same-seed) init
    would start; its optimizer runs at its own mutated lr."""
    import json

    donor = fit(0.01, tmp_path, "donor", {"model.init_args.lr": 0.01})
    donor.save_checkpoint(tmp_path / "donor.ckpt")
    donor_weights = {k: v.clone() for k, v in donor.lightning_module.state_dict().items()}
    donor_records = [json.loads(line) for line in (tmp_path / "donor.jsonl").read_text().splitlines()]
    initial = donor_records[0]["weights"]  # seed 0's init: where the recipient is built, before the restore
    (saved,) = [r["saved"] for r in donor_records if "saved" in r]
    assert saved == weights_digest(donor_weights) != initial, "the donor's checkpoint holds its trained weights"

    recipient = fit(0.05, tmp_path, "recipient", {"model.init_args.lr": 0.05}, ckpt_path=tmp_path / "donor.ckpt")
    (start,) = [json.loads(line) for line in (tmp_path / "recipient.jsonl").read_text().splitlines()]
    assert start["epoch"] == 1 and start["optimizer_lr"] == 0.05, "the mutated lr, not the donor's 0.01"
    assert start["weights"] == saved, "the recipient starts from the donor's checkpoint, not from its own init"
    assert recipient.optimizers[0].param_groups[0]["lr"] == 0.05

    # Without the callback, Lightning's restored optimizer state silently undoes the mutation.
    fit(0.05, tmp_path, "plain", {}, ckpt_path=tmp_path / "donor.ckpt", keep=False)
    plain = json.loads((tmp_path / "plain.jsonl").read_text().splitlines()[-1])
    assert plain["optimizer_lr"] == 0.01


def test_a_trial_resuming_its_own_checkpoint_keeps_its_optimizer_state(tmp_path):
    import json

    params = {"model.init_args.lr": 0.01, "seed": 3}
    first = fit(0.01, tmp_path, "own", params)
    first.optimizers[0].param_groups[0]["lr"] = 0.002  # as a decaying LR scheduler would have left it
    first.save_checkpoint(tmp_path / "own.ckpt")
    fit(0.01, tmp_path, "own", params, ckpt_path=tmp_path / "own.ckpt")
    resumed = json.loads((tmp_path / "own.jsonl").read_text().splitlines()[-1])
    assert resumed["optimizer_lr"] == 0.002

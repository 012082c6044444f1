"""`Trial.load_model` and `Experiment.export` on one tiny Lightning sweep run with tuning.run."""

import copy
import os

import pytest
import torch

import tuning
from tests.conftest import TINY_SWEEP


@pytest.fixture(scope="module")
def tiny(ray_session, tmp_path_factory):
    """The tiny sweep, two trials of one epoch, run once for this module."""
    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["search"]["num_samples"] = 2
    sweep["trainer"]["max_epochs"] = 1
    sweep["resources"]["max_concurrent"] = 1  # one worker imports Lightning, and the second trial reuses it
    saved = dict(os.environ)
    try:
        return tuning.run(sweep, storage=tmp_path_factory.mktemp("api-model"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_best_trials_model_has_its_checkpoints_weights(tiny):
    best = tiny.report().best
    model = best.load_model()
    assert type(model).__name__ == "MLPClassifier"
    assert model.hparams["hidden_dim"] == best.config["model.init_args.hidden_dim"]  # built with the trial's params
    saved = torch.load(os.path.join(best.checkpoint, "checkpoint.ckpt"), map_location="cpu", weights_only=True)
    weights = model.state_dict()
    assert weights.keys() == saved["state_dict"].keys()
    assert all(torch.equal(weights[k], saved["state_dict"][k]) for k in weights)


def test_export_writes_the_checkpoint_and_refuses_a_full_directory(tiny, tmp_path):
    best = tiny.report().best
    written = tiny.export(rank=1, output=tmp_path / "best")
    assert sorted(os.path.basename(p) for p in written) == ["checkpoint.ckpt", "config.yaml"]
    with open(os.path.join(best.checkpoint, "checkpoint.ckpt"), "rb") as source:
        assert (tmp_path / "best" / "checkpoint.ckpt").read_bytes() == source.read()
    assert f"trial {best.trial_id}" in (tmp_path / "best" / "config.yaml").read_text()
    with pytest.raises(tuning.SweepError, match="not an empty directory"):
        tiny.export(rank=1, output=tmp_path / "best")

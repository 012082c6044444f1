"""A trial as 2-worker CPU DDP through Ray Train: it completes, reports the whole-set mean, ASHA can stop it."""

import copy

import pytest
import torch

from tuning.driver.tuner import run_sweep
from tuning.report.load import load_report, read_results
from tuning.sweep.config import parse_sweep


@pytest.fixture(scope="module")
def ddp_sweep(ray_session, tmp_path_factory):
    """Two 2-worker trials in turn: a good LR first, then one too small to learn, which ASHA stops."""
    from tests.conftest import TINY_SWEEP

    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["trainer"]["max_epochs"] = 2  # ASHA's one rung (epoch 1) is below it: the good trial runs past the rung
    # 180 validation samples: 90 per rank, batches of 64 + 26 on each.
    sweep["data"]["init_args"].update(batch_size=64, val_fraction=0.1)
    sweep["search"].update(
        num_samples=2,
        space={"model.init_args.lr": {"loguniform": [1e-6, 1e-1]}},
        searcher={"name": "optuna", "points_to_evaluate": [{"model.init_args.lr": 0.05}, {"model.init_args.lr": 1e-6}]},
        scheduler={"name": "asha", "grace_period": 1, "reduction_factor": 2},
        baseline=False,  # the two points are the two trials
    )
    sweep["resources"] = {"cpu": 1, "workers": 2, "max_concurrent": 1}
    exp = run_sweep(parse_sweep(sweep), storage=str(tmp_path_factory.mktemp("ddp")), name="ddp")
    return exp, load_report(str(exp))


def test_ddp_trial_completes_and_asha_stops_the_other(ddp_sweep):
    exp, report = ddp_sweep
    by_lr = {t.config["model.init_args.lr"]: t for t in report.trials}
    assert by_lr[0.05].status == "completed" and by_lr[0.05].iterations == 2
    assert by_lr[1e-6].status == "stopped_early" and by_lr[1e-6].iterations == 1


def test_ddp_metric_is_the_mean_over_the_whole_validation_set(ddp_sweep):
    from tuning.data.digits import DigitsDataModule
    from tuning.models.mlp import MLPClassifier

    exp, report = ddp_sweep
    best = report.trials[0]
    trial_dir = next(exp.glob(f"trial_*{best.trial_id}"))
    rows = read_results(trial_dir / "result.json")
    (checkpoint,) = trial_dir.glob("ddp/checkpoint_*/checkpoint.ckpt")  # rank 0 wrote it; one kept
    saved = torch.load(checkpoint, weights_only=False)
    row = next(r for r in rows if r["epoch"] == saved["epoch"])
    datamodule = DigitsDataModule(batch_size=64, val_fraction=0.1)
    datamodule.setup("fit")
    x, y = datamodule.datasets["val"].tensors
    assert len(y) == 180
    model = MLPClassifier.load_from_checkpoint(checkpoint).eval()
    with torch.no_grad():
        one_pass = torch.nn.functional.cross_entropy(model(x).double(), y).item()
    assert row["val_loss"] == pytest.approx(one_pass, abs=1e-6)

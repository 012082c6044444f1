"""Lightning's LR finder and batch-size scaler through `tuning find-lr` / `find-batch-size`, on real runs."""

import pytest
import yaml

from tuning.cli.commands import main
from tuning.config import parse_sweep
from tuning.errors import UserError
from tuning.trial.finders import scale_batch_size


@pytest.fixture
def sweep_file(tmp_path, tiny_sweep):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    return path


def test_find_lr_prints_a_suggestion_and_saves_the_plot(sweep_file, tmp_path, capsys):
    plot = tmp_path / "plots" / "lr.png"
    # A range below the finder's own suggestion for this sweep (7e-4 with the default --max-lr 1): ignoring
    # --max-lr would suggest above it.
    assert main(["find-lr", str(sweep_file), "--plot", str(plot), "--steps", "40", "--min-lr", "1e-7",
                 "--max-lr", "1e-4"]) == 0
    out = capsys.readouterr().out
    lr = float(out.split("suggested learning rate:")[1].split()[0])
    assert 1e-7 <= lr <= 1e-4
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_find_batch_size_prints_the_largest_that_fits(sweep_file, capsys):
    assert main(["find-batch-size", str(sweep_file), "--mode", "binsearch"]) == 0
    from tuning.data.digits import DigitsDataModule

    size = int(capsys.readouterr().out.split("largest batch size that fits:")[1].split()[0])
    datamodule = DigitsDataModule(batch_size=128)
    datamodule.setup("fit")
    # On CPU every batch up to the whole training set fits: the scaler went past the sweep's 128.
    assert size >= len(datamodule.datasets["train"]) > 128


def test_scale_batch_size_sets_the_datamodule(tiny_sweep):
    from tuning.data.digits import DigitsDataModule
    from tuning.models.mlp import MLPClassifier

    datamodule = DigitsDataModule(batch_size=2)
    size = scale_batch_size("lightning.pytorch", {"accelerator": "cpu", "max_epochs": 1}, MLPClassifier(), datamodule, "power")
    assert size > 2 and datamodule.hparams.batch_size == size


def test_find_lr_on_a_model_without_lr_is_bad_input(tiny_sweep, tmp_path):
    from tuning.trial.finders import find_lr

    tiny_sweep["model"] = {"class_path": "tests.user_callbacks.SilentClassifier"}
    tiny_sweep["search"]["space"] = {}
    with pytest.raises(UserError, match="model.class_path: SilentClassifier has no `lr`"):
        find_lr(parse_sweep(tiny_sweep), tmp_path / "lr.png")

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


def _lightning_lr_find(min_lr: float, max_lr: float, steps: int, root) -> float:
    """Lightning's own LR finder on the tiny sweep's module and data, seeded by its run.seed as the CLI is."""
    import lightning.pytorch as pl

    from tuning.data.digits import DigitsDataModule
    from tuning.models.mlp import MLPClassifier

    pl.seed_everything(0, workers=True, verbose=False)
    model, datamodule = MLPClassifier(hidden_dim=16, num_layers=1), DigitsDataModule(batch_size=128)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(root))
    finder = pl.tuner.Tuner(trainer).lr_find(model, datamodule=datamodule, min_lr=min_lr, max_lr=max_lr,
                                             num_training=steps, update_attr=False)
    return finder.suggestion()


def test_find_lr_prints_lightnings_suggestion_and_saves_the_plot(sweep_file, tmp_path, capsys):
    """The printed LR is the one Lightning's lr_find suggests on the same module, data, seed, range and steps
    (a range and step count other than the defaults, so ignoring any of them changes the suggestion)."""
    plot = tmp_path / "plots" / "lr.png"
    assert main(["find-lr", str(sweep_file), "--plot", str(plot), "--steps", "40", "--min-lr", "1e-6",
                 "--max-lr", "0.1"]) == 0
    out = capsys.readouterr().out
    lr = float(out.split("suggested learning rate:")[1].split()[0])
    assert lr == pytest.approx(_lightning_lr_find(1e-6, 0.1, 40, tmp_path / "lightning"), rel=5e-3)  # 3 digits
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_find_lr_sets_a_learning_rate_attribute_and_refuses_a_model_without_a_rate(sweep_file, tiny_sweep, capsys):
    """A model whose rate is the attribute `learning_rate` (no `lr`) gets a suggestion; one with neither is exit 2
    naming both names, before any finder runs."""
    tiny_sweep["search"]["space"] = {}
    for model, code in (("LearningRateClassifier", 0), ("NoRateClassifier", 2)):
        tiny_sweep["model"] = {"class_path": f"tests.user_models.{model}", "init_args": {"width": 64}}
        sweep_file.write_text(yaml.safe_dump(tiny_sweep))
        assert main(["find-lr", str(sweep_file), "--steps", "20", "--plot", str(sweep_file.parent / "lr.png")]) == code
    out, err = capsys.readouterr()
    assert float(out.split("suggested learning rate:")[1].split()[0]) > 0
    assert "NoRateClassifier has no `lr` or `learning_rate` attribute or hparam" in err


def test_find_batch_size_prints_the_largest_that_fits(sweep_file, capsys):
    assert main(["find-batch-size", str(sweep_file), "--mode", "binsearch"]) == 0
    from tuning.data.digits import DigitsDataModule

    size = int(capsys.readouterr().out.split("largest batch size that fits:")[1].split()[0])
    datamodule = DigitsDataModule(batch_size=128)
    datamodule.setup("fit")
    # On CPU every batch up to the whole training set fits: the scaler went past the sweep's 128.
    assert size >= len(datamodule.datasets["train"]) > 128


def test_find_batch_size_power_and_binsearch_find_what_fits_below_a_memory_limit(sweep_file, tiny_sweep, capsys):
    """On a model that runs out of memory above 40 samples a batch, from the sweep's batch size of 128: `--mode
    power` halves to the size that fits, 32, and stops when doubling fails; `--mode binsearch` prints the largest
    size that fits (40) less its 5% margin. (Lightning's first try at its default start of 2 ran at 128: binsearch
    took that failure for 2's and printed 1.)"""
    tiny_sweep["model"] = {"class_path": "tests.fault_models.MemoryCapped", "init_args": {"max_batch": 40}}
    tiny_sweep["search"]["space"] = {"model.init_args.lr": {"loguniform": [1e-3, 1e-1]}}
    sweep_file.write_text(yaml.safe_dump(tiny_sweep))
    found = {}
    for mode in ("power", "binsearch"):
        assert main(["find-batch-size", str(sweep_file), "--mode", mode]) == 0
        found[mode] = int(capsys.readouterr().out.split("largest batch size that fits:")[1].split()[0])
    assert found == {"power": 32, "binsearch": int(40 * 0.95)}


def test_scale_batch_size_sets_the_datamodule(tiny_sweep):
    from tuning.data.digits import DigitsDataModule
    from tuning.models.mlp import MLPClassifier

    datamodule = DigitsDataModule(batch_size=2)
    size = scale_batch_size("lightning.pytorch", {"accelerator": "cpu", "max_epochs": 1}, MLPClassifier(), datamodule,
                            "power")
    datamodule.setup("fit")
    # Nothing runs out of memory on CPU: the scaler doubles from 2 until one batch holds the whole training set.
    assert size >= len(datamodule.datasets["train"]) and datamodule.hparams.batch_size == size


def test_find_lr_on_a_model_without_lr_is_bad_input(tiny_sweep, tmp_path):
    from tuning.trial.finders import find_lr

    tiny_sweep["model"] = {"class_path": "tests.user_callbacks.SilentClassifier"}
    tiny_sweep["search"]["space"] = {}
    with pytest.raises(UserError, match="model.class_path: SilentClassifier has no `lr`"):
        find_lr(parse_sweep(tiny_sweep), tmp_path / "lr.png")

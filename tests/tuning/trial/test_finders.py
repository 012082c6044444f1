"""Lightning's LR finder and batch-size scaler through `tuning find-lr` / `find-batch-size`, on real runs."""

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.cli import OptimizerCallable

from tests.in_process import tuning_here
from tests.user_models import LinearClassifier
from tuning.cli.commands import main
from tuning.errors import UserError
from tuning.sweep.classes import build
from tuning.sweep.config import load_sweep, parse_sweep
from tuning.trial.finders import _with_cli_optimizer, batch_size_keys, lr_keys, scale_batch_size


class InjectedOptimizer(L.LightningModule):
    """A module whose optimizer is injected (LightningCLI's OptimizerCallable) and has no `lr` of its own."""

    def __init__(self, width: int = 64, optimizer: OptimizerCallable = torch.optim.SGD):
        super().__init__()
        self.optimizer = optimizer
        self.layer = torch.nn.Linear(width, 10)

    def configure_optimizers(self):
        return self.optimizer(self.parameters())


class BatchedClassifier(LinearClassifier):
    """A module that takes a batch size too (as a module with its own dataloaders does)."""

    def __init__(self, width: int = 64, lr: float = 0.01, batch_size: int = 32):
        super().__init__(width=width, lr=lr)
        self.save_hyperparameters()


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
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
    )
    finder = pl.tuner.Tuner(trainer).lr_find(
        model, datamodule=datamodule, min_lr=min_lr, max_lr=max_lr, num_training=steps, update_attr=False
    )
    return finder.suggestion()


def test_find_lr_prints_lightnings_suggestion_and_saves_the_plot(sweep_file, tmp_path, capsys):
    """The printed LR is the one Lightning's lr_find suggests on the same module, data, seed, range and steps
    (a range and step count other than the defaults, so ignoring any of them changes the suggestion)."""
    plot = tmp_path / "plots" / "lr.png"
    assert (
        main(["find-lr", str(sweep_file), "--plot", str(plot), "--steps", "40", "--min-lr", "1e-6", "--max-lr", "0.1"])
        == 0
    )
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
    lr = float(out.split("suggested learning rate:")[1].split()[0])
    assert lr > 0
    assert "NoRateClassifier has no `lr` or `learning_rate` attribute or hparam" in err
    # The printed line names `learning_rate` (it said `lr`, which validate refuses) and, pasted, sets it.
    tiny_sweep["model"]["class_path"] = "tests.user_models.LearningRateClassifier"
    sweep_file.write_text(yaml.safe_dump(tiny_sweep))
    assert _pasted(err, sweep_file) == {"model.init_args.learning_rate": lr}
    assert build(load_sweep(str(sweep_file), [_set_line(err)[1]]).model.model_dump(), "model").learning_rate == lr


def _set_line(err: str) -> list[str]:
    """The `--set KEY=VALUE ...` a finder printed after `use it:`, split as a shell would."""
    line = next(line for line in err.splitlines() if line.startswith("use it: --set "))
    return line.removeprefix("use it: ").split(",")[0].split()


def _pasted(err: str, sweep_file) -> dict:
    """The printed `--set` line pasted into `tuning validate`, which must accept it: key -> the value it set."""
    args = _set_line(err)
    result = tuning_here("validate", str(sweep_file), *args)
    assert result.returncode == 0, result.stderr
    return {key: yaml.safe_load(value) for key, value in (a.split("=") for a in args[1::2])}


def test_find_batch_size_prints_the_largest_that_fits(sweep_file, capsys):
    assert main(["find-batch-size", str(sweep_file), "--mode", "binsearch"]) == 0
    from tuning.data.digits import DigitsDataModule

    out, err = capsys.readouterr()
    size = int(out.split("largest batch size that fits:")[1].split()[0])
    assert _pasted(err, sweep_file) == {"data.init_args.batch_size": size}
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
    size = scale_batch_size(
        "lightning.pytorch", {"accelerator": "cpu", "max_epochs": 1}, MLPClassifier(), datamodule, "power"
    )
    datamodule.setup("fit")
    # Nothing runs out of memory on CPU: the scaler doubles from 2 until one batch holds the whole training set.
    assert size >= len(datamodule.datasets["train"]) and datamodule.hparams.batch_size == size


def test_find_lr_on_a_model_without_lr_is_bad_input(tiny_sweep, tmp_path):
    from tuning.trial.finders import find_lr

    tiny_sweep["model"] = {"class_path": "tests.user_callbacks.SilentClassifier"}
    tiny_sweep["search"]["space"] = {}
    with pytest.raises(UserError, match="model.class_path: SilentClassifier has no `lr`"):
        find_lr(parse_sweep(tiny_sweep), tmp_path / "lr.png")


def test_with_an_optimizer_section_the_finder_runs_it_and_names_its_lr(tiny_sweep, tmp_path):
    """LightningCLI's `optimizer:` replaces the module's configure_optimizers in a trial, so the LR finder runs that
    optimizer too, and its suggestion is for `optimizer.init_args.lr` (not the module's unused `lr`)."""
    tiny_sweep.update(
        model={"class_path": "tests.user_models.LinearClassifier", "init_args": {"width": 64}},
        optimizer={"class_path": "Adam", "init_args": {"lr": 0.01}},
    )
    tiny_sweep["search"]["space"] = {}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    cfg = load_sweep(str(path))
    model = _with_cli_optimizer(cfg, "lightning.pytorch", build(cfg.model.model_dump(), "model"), None, {})[1]
    assert isinstance(model.configure_optimizers(), torch.optim.Adam)
    [key] = lr_keys(cfg, model)
    assert (
        key == "optimizer.init_args.lr" and tuning_here("validate", str(path), "--set", f"{key}=0.003").returncode == 0
    )
    assert load_sweep(str(path), [f"{key}=0.003"]).optimizer.init_args["lr"] == 0.003


@pytest.mark.parametrize("form", ["lightning_cli", "hydra"])
def test_the_lr_of_an_injected_optimizer_is_the_key_named(form, tiny_sweep, tmp_path):
    """Lightning's finder sets no injected optimizer's rate (it refuses such a module with update_attr); its
    suggestion is for that optimizer's `lr`, named as the sweep writes it, which validates and builds when pasted."""
    adam = {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}}
    tiny_sweep["model"] = {"class_path": f"{__name__}.InjectedOptimizer", "init_args": {"optimizer": adam}}
    expected = "model.init_args.optimizer.init_args.lr"
    if form == "hydra":
        pytest.importorskip("hydra")
        adam = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01}
        tiny_sweep["model"], expected = (
            {"_target_": f"{__name__}.InjectedOptimizer", "optimizer": adam},
            "model.optimizer.lr",
        )
    tiny_sweep["search"]["space"] = {}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    cfg = load_sweep(str(path))
    assert lr_keys(cfg, build(cfg.model.model_dump(), "model")) == (expected,)
    assert tuning_here("validate", str(path), "--set", f"{expected}=0.003").returncode == 0
    pasted = build(load_sweep(str(path), [f"{expected}=0.003"]).model.model_dump(), "model")
    assert pasted.configure_optimizers().param_groups[0]["lr"] == 0.003


def test_the_batch_size_keys_are_every_holder_the_scaler_sets(tiny_sweep):
    """Lightning's scaler sets `batch_size` on the module and the datamodule alike: each that takes it is named."""
    from tuning.data.digits import DigitsDataModule

    tiny_sweep["model"] = {"class_path": f"{__name__}.BatchedClassifier", "init_args": {}}
    tiny_sweep["search"]["space"] = {}
    cfg = parse_sweep(tiny_sweep)
    model = build(cfg.model.model_dump(), "model")
    assert batch_size_keys(cfg, model, DigitsDataModule()) == (
        "data.init_args.batch_size",
        "model.init_args.batch_size",
    )
    assert batch_size_keys(cfg, model, None) == ("model.init_args.batch_size",)
    assert batch_size_keys(cfg, LinearClassifier(width=64), DigitsDataModule()) == ("data.init_args.batch_size",)

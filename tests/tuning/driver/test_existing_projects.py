"""A project of the user's own sweeps as it is, in each shape it comes in (issue 31), end to end.

tests/existing_projects/litproj is a small Lightning project with no tuning in it: a module taking its
network and an injected optimizer (LightningCLI's dependency injection), the Lightning + Hydra template's
MNISTLitModule with its config pasted in as Hydra nodes, and a model-only module with its own
dataloaders. Each shape's sweep runs, reports and exports, and the export loads with the project's own
tools (a real `LightningCLI(run=False)`, `hydra.utils.instantiate`, `load_from_checkpoint`) and gives back
the metric the report ranks it by.

The project is named by its path from the repository root (`tests.existing_projects.litproj`), not copied
into the temporary folder: the trials run in the workers of the test session's Ray, whose import path
Ray fixed when it started (the driver's folder then), so a package in a folder chdir'd into later is
found by the preflight here but not by the trials.
"""

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.in_process import tuning_here

PROJECT = Path(__file__).resolve().parents[2] / "existing_projects"
SWEEPS = {"cli": "cli_sweep.yaml", "hydra": "hydra_sweep.yaml", "model_only": "model_only_sweep.yaml"}
# The LightningCLI-form run sets one argument with each spelling: init_args spelled out, and its shorthand.
SMOOTHING, DROPOUT = 0.05, 0.125
OVERRIDES = {
    "cli": ["--set", f"model.init_args.label_smoothing={SMOOTHING}", "--set", f"model.net.init_args.dropout={DROPOUT}"]
}
TOLERANCE = 1e-5  # the trial's float32 validation against the same one here


def sweep_file(shape: str) -> dict:
    return yaml.safe_load((PROJECT / SWEEPS[shape]).read_text())


class Experiments:
    """Each shape's sweep, run the first time a test asks for it (a failing shape fails its own tests only)."""

    def __init__(self, storage: Path, workdir: Path):
        self.storage, self.workdir, self.runs = storage, workdir, {}

    def __call__(self, shape: str) -> tuple[Path, dict]:
        """(experiment directory, `tuning report --format json` of it)."""
        if shape not in self.runs:
            with pytest.MonkeyPatch.context() as patch:
                patch.chdir(self.workdir)  # as a user runs it: from a folder of their own
                self.runs[shape] = tuning_here(
                    "run", str(PROJECT / SWEEPS[shape]), "--storage", str(self.storage), *OVERRIDES.get(shape, ())
                )
        run = self.runs[shape]
        assert run.returncode == 0, run.stderr[-3000:]
        experiment = self.storage / sweep_file(shape)["name"]
        report = tuning_here("report", str(experiment), "--format", "json")
        assert report.returncode == 0, report.stderr
        return experiment, json.loads(report.stdout)


@pytest.fixture(scope="module")
def experiments(ray_session, tmp_path_factory) -> Experiments:
    return Experiments(tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("work"))


def export(experiment: Path, out: Path) -> tuple[dict, Path]:
    """`tuning export --rank 1`: (its config, its checkpoint)."""
    result = tuning_here("export", str(experiment), "--rank", "1", "--output", str(out))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load((out / "config.yaml").read_text()), out / "checkpoint.ckpt"


def validated(model, tmp_path, datamodule=None, trainer=None) -> dict:
    """The metrics of one validation pass of Lightning's Trainer (the module's own loaders without data)."""
    from lightning import Trainer

    trainer = trainer or Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    return trainer.validate(model, datamodule=datamodule, verbose=False)[0]


def load_and_validate(model, ckpt: Path, key: str, tmp_path, datamodule=None, trainer=None) -> float:
    """`key` after loading the checkpoint's weights into `model`; before, it must differ (the weights matter)."""
    untrained = validated(model, tmp_path, datamodule, trainer)[key]
    model.load_state_dict(torch.load(ckpt, weights_only=False)["state_dict"])
    trained = validated(model, tmp_path, datamodule, trainer)[key]
    assert abs(trained - untrained) > 1e-3, (untrained, trained)
    return trained


def best(report: dict) -> dict:
    return report["trials"][0]


# --- validate ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SWEEPS)
def test_validate_accepts_each_shape(shape):
    result = tuning_here("validate", str(PROJECT / SWEEPS[shape]))
    assert result.returncode == 0, result.stderr
    assert "# ok: 3 trials, 2 searched parameters" in result.stderr


def test_both_spellings_of_a_lightningcli_key_set_the_same_argument():
    """`--set model.init_args.X=...` and `--set model.X=...` resolve to the same sweep, X changed; at depth too."""

    def resolved(*overrides):
        result = tuning_here("validate", str(PROJECT / SWEEPS["cli"]), *[a for o in overrides for a in ("--set", o)])
        assert result.returncode == 0, result.stderr
        return yaml.safe_load(result.stdout)

    plain = resolved()
    assert "label_smoothing" not in plain["model"]["init_args"]
    for key, value in (("label_smoothing", SMOOTHING), ("net.init_args.dropout", DROPOUT)):
        spelled, short = resolved(f"model.init_args.{key}={value}"), resolved(f"model.{key}={value}")
        assert spelled == short, key
        expected = copy.deepcopy(plain)
        *parents, last = key.split(".")
        node = expected["model"]["init_args"]
        for part in parents:
            node = node[part]
        node[last] = value
        assert spelled == expected, key


# --- run and report ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SWEEPS)
def test_each_shape_sweeps_and_the_report_ranks_its_searched_keys(experiments, shape):
    """Exit 0, every trial completed; the JSON report ranks them by the metric, their config keys the space's."""
    _, report = experiments(shape)
    sweep = sweep_file(shape)
    search = sweep["search"]
    assert (report["metric"], report["mode"]) == (search["metric"], search["mode"])
    trials = report["trials"]
    assert len(trials) == search["num_samples"]
    assert [t["status"] for t in trials] == ["completed"] * len(trials), [t["error"] for t in trials]
    assert [t["rank"] for t in trials] == list(range(1, len(trials) + 1))
    metrics = [t["metric"] for t in trials]
    assert metrics == sorted(metrics) and all(isinstance(m, float) for m in metrics)
    assert all(set(t["config"]) == set(search["space"]) for t in trials), [t["config"] for t in trials]
    assert len({tuple(sorted(t["config"].items())) for t in trials}) == len(trials), "each trial its own config"
    assert all(t["epoch"] is not None and t["checkpoint_epoch"] == t["epoch"] for t in trials)


def test_each_set_spelling_reaches_every_trial(experiments):
    """The LightningCLI-form run had `--set model.init_args.label_smoothing` and `--set model.net.init_args.dropout`:
    every trial's module was built with both (the checkpoint's hyperparameters are the config it was built from)."""
    _, report = experiments("cli")
    for trial in report["trials"]:
        hparams = torch.load(Path(trial["checkpoint"]) / "checkpoint.ckpt", weights_only=False)["hyper_parameters"]
        assert hparams["label_smoothing"] == SMOOTHING, hparams
        net = hparams["net"]["init_args"]
        assert net["dropout"] == DROPOUT
        assert net["hidden_dim"] == trial["config"]["model.init_args.net.init_args.hidden_dim"]


# --- export loads with the project's own tools -------------------------------------------------------------------


def test_lightningcli_form_export_builds_with_lightningcli_and_gives_back_the_metric(experiments, tmp_path):
    """A real LightningCLI(run=False) builds the exported config; with the exported weights its trainer
    validates to the reported val_loss. `Classifier.load_from_checkpoint` rebuilds the same module."""
    from lightning.pytorch.cli import LightningCLI

    from tests.existing_projects.litproj.data import DigitsData
    from tests.existing_projects.litproj.lit import Classifier
    from tests.existing_projects.litproj.nets import MLP

    experiment, report = experiments("cli")
    config, ckpt = export(experiment, tmp_path / "export")
    trial = best(report)
    assert config["model"]["class_path"] == "tests.existing_projects.litproj.lit.Classifier"
    assert config["model"]["init_args"]["label_smoothing"] == SMOOTHING
    cli = LightningCLI(
        run=False,
        args=["--config", str(tmp_path / "export" / "config.yaml")],
        save_config_callback=None,
        trainer_defaults={"logger": False, "enable_progress_bar": False, "default_root_dir": str(tmp_path)},
    )
    model = cli.model
    assert type(model) is Classifier and type(model.net) is MLP and isinstance(cli.datamodule, DigitsData)
    assert model.net.layers[0].out_features == trial["config"]["model.init_args.net.init_args.hidden_dim"]
    assert model.net.layers[2].p == DROPOUT and model.label_smoothing == SMOOTHING
    optimizer = model.optimizer(model.parameters())
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.param_groups[0]["lr"] == pytest.approx(trial["config"]["model.init_args.optimizer.init_args.lr"])
    metric = load_and_validate(model, ckpt, "val_loss", tmp_path, cli.datamodule, cli.trainer)
    assert metric == pytest.approx(trial["metric"], abs=TOLERANCE)

    loaded = Classifier.load_from_checkpoint(ckpt)
    assert type(loaded.net) is MLP and loaded.label_smoothing == SMOOTHING
    assert validated(loaded, tmp_path, DigitsData(**config["data"]["init_args"]))["val_loss"] == pytest.approx(
        trial["metric"], abs=TOLERANCE
    )


def test_hydra_form_export_stays_a_hydra_node_that_instantiate_builds_and_gives_back_the_metric(experiments, tmp_path):
    """The exported model and data are the pasted Hydra nodes with the trial's values; hydra.utils.instantiate
    builds them, and with the exported weights validation gives back the reported val/loss."""
    from hydra.utils import instantiate

    from tests.existing_projects.litproj.lit import MNISTLitModule
    from tests.existing_projects.litproj.nets import SimpleDenseNet

    experiment, report = experiments("hydra")
    config, ckpt = export(experiment, tmp_path / "export")
    trial = best(report)
    expected = sweep_file("hydra")
    expected["model"]["net"]["lin1_size"] = trial["config"]["model.net.lin1_size"]
    expected["model"]["optimizer"]["lr"] = trial["config"]["model.optimizer.lr"]
    assert config["model"] == expected["model"] and config["data"] == expected["data"]

    model = instantiate(config["model"])
    assert type(model) is MNISTLitModule and type(model.net) is SimpleDenseNet
    assert model.net.model[0].out_features == trial["config"]["model.net.lin1_size"]
    assert model.hparams.optimizer.keywords["lr"] == trial["config"]["model.optimizer.lr"]
    datamodule = instantiate(config["data"])
    metric = load_and_validate(model, ckpt, "val/loss", tmp_path, datamodule)
    assert metric == pytest.approx(trial["metric"], abs=TOLERANCE)

    loaded = MNISTLitModule.load_from_checkpoint(ckpt, weights_only=False)  # its hparams hold `net`, a module
    assert validated(loaded, tmp_path, datamodule)["val/loss"] == pytest.approx(trial["metric"], abs=TOLERANCE)


def test_model_only_export_has_no_data_and_validates_on_the_modules_own_loader(experiments, tmp_path):
    """No `data` in the export; LightningCLI builds the module from it (as `LightningCLI(MyModel)` users run it)
    and with the exported weights its own val_dataloader gives back the reported val_loss."""
    from lightning.pytorch.cli import LightningCLI

    from tests.existing_projects.litproj.lit import SelfContained

    experiment, report = experiments("model_only")
    config, ckpt = export(experiment, tmp_path / "export")
    trial = best(report)
    assert "data" not in config
    assert config["model"] == {
        "class_path": "tests.existing_projects.litproj.lit.SelfContained",
        "init_args": {
            "hidden_dim": trial["config"]["model.init_args.hidden_dim"],
            "lr": trial["config"]["model.init_args.lr"],
        },
    }
    cli = LightningCLI(
        run=False,
        args=["--config", str(tmp_path / "export" / "config.yaml")],
        save_config_callback=None,
        trainer_defaults={"logger": False, "enable_progress_bar": False, "default_root_dir": str(tmp_path)},
    )
    assert type(cli.model) is SelfContained and cli.datamodule is None
    metric = load_and_validate(cli.model, ckpt, "val_loss", tmp_path, trainer=cli.trainer)
    assert metric == pytest.approx(trial["metric"], abs=TOLERANCE)
    loaded = SelfContained.load_from_checkpoint(ckpt)
    assert loaded.hparams.hidden_dim == trial["config"]["model.init_args.hidden_dim"]
    assert validated(loaded, tmp_path)["val_loss"] == pytest.approx(trial["metric"], abs=TOLERANCE)


def test_model_only_sweep_confirms_and_resumes_with_more_trials(experiments, tmp_path):
    """A sweep without `data` reruns its winner with new seeds (confirm) and grows (resume --more) as any sweep."""
    experiment, report = experiments("model_only")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(experiments.workdir)
        confirm = tuning_here("confirm", str(experiment), "--top", "1", "--seeds", "2")
        assert confirm.returncode == 0, confirm.stderr[-3000:]
        confirmed = experiment.parent / f"{experiment.name}-confirm"
        assert len([p for p in confirmed.iterdir() if p.name.startswith("trial_")]) == 2
        more = tuning_here("resume", str(experiment), "--more", "1")
        assert more.returncode == 0, more.stderr[-3000:]
    grown = json.loads(tuning_here("report", str(experiment), "--format", "json").stdout)
    assert len(grown["trials"]) == len(report["trials"]) + 1
    assert all(t["status"] == "completed" for t in grown["trials"])

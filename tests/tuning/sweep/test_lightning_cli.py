"""A LightningCLI project sweeps as it is: its printed config, both Lightning distributions, exit codes."""

import contextlib
import copy
import io
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from tests.in_process import tuning_here
from tuning.driver.resume import STUDY_FILE
from tuning.sweep.classes import check_classes
from tuning.sweep.config import parse_sweep
from tuning.sweep.lightning_cli import normalize

ROOT = Path(__file__).resolve().parents[3]

# What `LightningCLI(...).fit --print_config` prints for a project (trimmed of keys at their defaults),
# plus the sweep's own `search:`.
PRINTED = {
    "seed_everything": 7,
    "trainer": {
        "accelerator": "cpu",
        "strategy": "auto",
        "devices": "auto",
        "num_nodes": 1,
        "precision": None,
        "logger": {"class_path": "CSVLogger", "init_args": {"save_dir": "somewhere", "name": "csv"}},
        "callbacks": ["LearningRateMonitor"],
        "max_epochs": 2,
        "enable_checkpointing": None,
        "enable_progress_bar": None,
        "enable_model_summary": None,
        "default_root_dir": None,
        "limit_train_batches": 5,
        "fast_dev_run": False,
    },
    "model": {"class_path": "tests.user_models.LinearClassifier", "init_args": {"width": 64, "lr": 0.01}},
    "data": {"class_path": "digits", "init_args": {"batch_size": 64}},
    "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1, "momentum": 0.9}},
    "lr_scheduler": {"class_path": "StepLR", "init_args": {"step_size": 1, "gamma": 0.5}},
    "ckpt_path": None,
    "search": {
        "num_samples": 2,
        "space": {"optimizer.init_args.lr": {"loguniform": [0.01, 0.3]}},
        "scheduler": {"name": "fifo"},
    },
    "resources": {"cpu": 1, "max_concurrent": 2},
}


def test_printed_config_keys_map_onto_the_sweep():
    data = normalize(copy.deepcopy(PRINTED))
    assert "seed_everything" not in data and data["run"] == {"seed": 7}
    assert "ckpt_path" not in data and "precision" not in data["trainer"]
    assert data["trainer"]["callbacks"] == [{"class_path": "LearningRateMonitor"}]
    assert data["trainer"]["logger"] == [PRINTED["trainer"]["logger"]]
    # run.seed given wins over seed_everything; true/false/null leave run.seed alone
    assert normalize({**PRINTED, "run": {"seed": 3}})["run"] == {"seed": 3}
    assert all("run" not in normalize({"seed_everything": v}) for v in (True, False, None))
    cfg = parse_sweep({**copy.deepcopy(PRINTED), "name": "printed"})
    assert check_classes(cfg).flavour == "lightning.pytorch"
    assert cfg.run.seed == 7 and cfg.optimizer.class_path == "torch.optim.SGD"


def test_bare_arguments_of_a_fixed_class_are_its_init_args():
    data = normalize({"model": {"class_path": "mlp", "hidden_dim": 8}, "data": {"batch_size": 64}})
    assert data["model"] == {"class_path": "mlp", "init_args": {"hidden_dim": 8}, "cli_form": "fixed"}
    assert data["data"] == {"init_args": {"batch_size": 64}, "cli_form": "fixed"}  # class_path still to name
    spelled = {"class_path": "mlp", "init_args": {"hidden_dim": 8}}
    assert normalize({"model": spelled})["model"] == spelled, "subclass mode is left as it is"


@pytest.mark.parametrize(
    "change, key",
    [
        ({"optimizer": None}, "lr_scheduler"),  # a scheduler needs an optimizer to schedule
        ({"optimizer": {"class_path": "torch.optim.Adamm"}}, "optimizer.class_path"),
        ({"optimizer": {"class_path": "SGD", "init_args": {"lr": 0.1, "momentun": 0.9}}}, "optimizer.init_args"),
        ({"lr_scheduler": {"class_path": "StepLR"}}, "lr_scheduler.init_args"),  # step_size is required
        ({"optimizer": None, "lr_scheduler": None}, "search.space.optimizer.init_args.lr"),
        ({"ckpt_path": "no/such.ckpt"}, "ckpt_path"),
        ({"trainer": {**PRINTED["trainer"], "enable_checkpointing": False}}, "trainer.enable_checkpointing"),
        ({"trainer": {**PRINTED["trainer"], "logger": False}}, "trainer.logger"),
        ({"trainer": {**PRINTED["trainer"], "logger": "NoSuchLogger"}}, "trainer.logger[0].class_path"),
        ({"trainer": {**PRINTED["trainer"], "devices": 2}}, "trainer.devices"),
        ({"trainer": {**PRINTED["trainer"], "accelerator": "gpu"}}, "trainer.accelerator"),
    ],
)
def test_what_cannot_be_honoured_is_exit_2_naming_the_key(tmp_path, capsys, change, key):
    from tuning.cli.commands import main

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({**PRINTED, **change}))
    for args in (["validate", str(sweep)], ["run", str(sweep), "--storage", str(tmp_path / "runs")]):
        assert main(args) == 2, args
        assert key in capsys.readouterr().err
    assert not (tmp_path / "runs").exists(), "nothing is written for bad input"


def test_ckpt_path_starts_the_trial_from_its_weights_and_optimizer_replaces_configure_optimizers(tmp_path, monkeypatch):
    import lightning as L
    import torch

    from tests.user_models import LinearClassifier
    from tuning.trial.fit import prepare_trial

    saved = LinearClassifier(width=64)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(saved)
    trainer.save_checkpoint(tmp_path / "start.ckpt")  # a real Lightning checkpoint file
    sweep = parse_sweep(
        {**copy.deepcopy(PRINTED), "name": "x", "ckpt_path": str(tmp_path / "start.ckpt"), "weights_only": True}
    ).to_dict()
    monkeypatch.setenv("TUNING_IN_TRIAL", "")  # prepare_trial marks the process as a trial; undone after the test
    *_, model, dist = prepare_trial({"optimizer.init_args.lr": 0.123}, sweep, str(tmp_path / "trial_0001_ab"))
    assert dist == "lightning.pytorch"
    for name, tensor in saved.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    (optimizer,), (scheduler,) = model.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD) and isinstance(scheduler, torch.optim.lr_scheduler.StepLR)
    assert optimizer.param_groups[0]["lr"] == 0.123 and optimizer.param_groups[0]["momentum"] == 0.9


def _printed_config(script: Path, *args: str) -> str:
    """`python SCRIPT fit ARGS --print_config` from ROOT, in a process of its own as the user runs it: what it prints
    is exactly what the sweep starts from (in this process, where Ray Tune is imported, LightningCLI prints
    `limit_train_batches: 5` as `5.0`)."""
    printed = subprocess.run(
        [sys.executable, str(script), "fit", *args, "--print_config"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # the user's project: where `tests.user_models` imports from
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert printed.returncode == 0, printed.stderr[-3000:]
    return printed.stdout


def _user_cli(script: Path, *args: str, cwd: Path) -> str:
    """`python SCRIPT ARGS` from `cwd`, run in this process as Python runs a script (`__main__`, its argv): the
    user's own LightningCLI entry point on a file, without a Python start-up and Lightning's imports. Its stdout."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.chdir(cwd)
        patch.setattr(sys, "argv", [str(script), *args])
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as done:
            assert done.code in (None, 0), f"{script.name} {' '.join(args)}: exit {done.code}\n{out.getvalue()}"
    return out.getvalue()


def _export_validates_to_the_reported_value(exp: Path, out: Path, cli: Path) -> None:
    """`tuning export` of the best trial, then the user's own `validate --ckpt_path` on it: the report's value."""
    best = json.loads(tuning_here("report", str(exp), "--format", "json").stdout)["trials"][0]
    assert tuning_here("export", str(exp), "--output", str(out)).returncode == 0
    validated = _user_cli(
        cli,
        "validate",
        "--config",
        str(out / "config.yaml"),
        "--ckpt_path",
        str(out / "checkpoint.ckpt"),
        cwd=out.parent,
    )
    value = re.search(r"val_loss\s*\W\s*([0-9.]+)", validated)
    assert value and float(value.group(1)) == pytest.approx(best["metric"], abs=1e-4), validated[-2000:]


@pytest.mark.integration
def test_a_printed_config_sweeps_unchanged_and_its_export_reruns_under_lightningcli(
    ray_session, restore_environ, tmp_path
):
    """The user's own LightningCLI prints the config; tuning sweeps it; the winner validates under it."""
    cli = ROOT / "tests" / "lightningcli_main.py"
    printed = _printed_config(
        cli,
        "--seed_everything",
        "7",
        "--model",
        "tests.user_models.LinearClassifier",
        "--model.width",
        "64",
        "--data",
        "tuning.data.digits.DigitsDataModule",
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_train_batches",
        "5",
        "--trainer.callbacks",
        "LearningRateMonitor",
        "--trainer.logger",
        "CSVLogger",
        "--trainer.logger.save_dir",
        "somewhere",
        "--trainer.logger.name",
        "csv",
        "--optimizer",
        "SGD",
        "--optimizer.lr",
        "0.1",
        "--optimizer.momentum",
        "0.9",
        "--lr_scheduler",
        "StepLR",
        "--lr_scheduler.step_size",
        "1",
        "--lr_scheduler.gamma",
        "0.5",
    )
    sweep = tmp_path / "printed.yaml"  # no name in it: the experiment is named after the file
    sweep.write_text(
        printed
        + yaml.safe_dump(
            {
                "search": {
                    "num_samples": 2,
                    "space": {"optimizer.init_args.lr": {"loguniform": [0.01, 0.3]}},
                    "scheduler": {"name": "fifo"},
                }
            }
        )
    )
    result = tuning_here("run", str(sweep), "--storage", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr[-3000:]
    exp = tmp_path / "runs" / "printed"
    assert yaml.safe_load((exp / "sweep.yaml").read_text())["run"]["seed"] == 7
    trials = sorted(exp.glob("trial_*"))
    assert len(trials) == 2
    for trial in trials:
        params = json.loads((trial / "trial.json").read_text())["params"]
        (metrics,) = trial.glob("csv/**/metrics.csv")  # the user's CSVLogger, inside the trial directory
        header, *rows = metrics.read_text().splitlines()
        lrs = [r["lr-SGD"] for r in (dict(zip(header.split(","), row.split(","))) for row in rows) if r["lr-SGD"]]
        # LearningRateMonitor names the optimizer (SGD) and sees the sampled LR, halved by StepLR each epoch
        assert [float(lr) for lr in lrs] == pytest.approx([params["optimizer.init_args.lr"] * f for f in (1, 0.5)])
    assert not (ROOT / "somewhere").exists() and not (tmp_path / "somewhere").exists()

    _export_validates_to_the_reported_value(exp, tmp_path / "export", cli)
    # and refits under it (an exception here fails the test)
    _user_cli(
        cli, "fit", "--config", str(tmp_path / "export" / "config.yaml"), "--trainer.max_epochs", "1", cwd=tmp_path
    )


@pytest.mark.integration
def test_a_fixed_class_lightningcli_config_sweeps_once_its_classes_are_named_and_its_export_validates(
    ray_session, restore_environ, tmp_path
):
    """`LightningCLI(Model, Data)` prints bare arguments: the sweep names the classes beside them, and the
    export is written back in that form, so the user's own `validate --ckpt_path` gives the report's value."""
    cli = ROOT / "tests" / "lightningcli_fixed.py"
    printed = _printed_config(
        cli, "--model.width", "64", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "5"
    )
    config = yaml.safe_load(printed)
    assert "class_path" not in config["model"] and config["model"]["width"] == 64
    search = {
        "search": {
            "num_samples": 1,
            "space": {"model.init_args.lr": {"loguniform": [0.01, 0.1]}},
            "scheduler": {"name": "fifo"},
        }
    }
    sweep = tmp_path / "fixed.yaml"
    sweep.write_text(yaml.safe_dump({**config, **search}))
    refused = tuning_here("validate", str(sweep))
    assert refused.returncode == 2 and "LightningCLI(MyModel, MyData)" in refused.stderr, refused.stderr
    config["model"]["class_path"] = "tests.user_models.LinearClassifier"
    config["data"]["class_path"] = "tuning.data.digits.DigitsDataModule"
    sweep.write_text(yaml.safe_dump({**config, **search}))
    assert tuning_here("run", str(sweep), "--storage", str(tmp_path / "runs")).returncode == 0
    exp = tmp_path / "runs" / "fixed"
    _export_validates_to_the_reported_value(exp, tmp_path / "export", cli)
    exported = yaml.safe_load((tmp_path / "export" / "config.yaml").read_text())
    assert "class_path" not in exported["model"] and exported["model"]["width"] == 64


@pytest.mark.integration
def test_a_pytorch_lightning_project_sweeps_and_errored_trials_exit_3(ray_session, tmp_path):
    """The older distribution end to end: its Trainer, bare callback and logger names; one trial fails."""
    sweep = {
        "name": "legacy",
        "model": {"class_path": "tests.legacy_project.LegacyClassifier"},
        "data": {"class_path": "tests.legacy_project.LegacyDigits"},
        "trainer": {
            "max_epochs": 2,
            "accelerator": "cpu",
            "logger": "CSVLogger",
            "callbacks": [
                {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss"}},
                # no monitor: each epoch's file replaces the last one
                {"class_path": "ModelCheckpoint", "init_args": {"save_top_k": 1}},
            ],
        },
        "search": {
            "num_samples": 2,
            "space": {"model.init_args.fail": {"choice": [False, True]}},
            "searcher": {"points_to_evaluate": [{"model.init_args.fail": False}, {"model.init_args.fail": True}]},
            "scheduler": {"name": "fifo"},
        },
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    result = tuning_here("run", str(tmp_path / "sweep.yaml"), "--storage", str(tmp_path / "runs"))
    assert result.returncode == 3, result.stderr[-3000:]
    assert "rank  trial" in result.stdout, "the table is still printed"
    assert "errored: RuntimeError: boom in epoch 1" in result.stderr
    assert "1 of 2 trials errored" in result.stderr
    report = json.loads(tuning_here("report", str(tmp_path / "runs" / "legacy"), "--format", "json").stdout)
    by_fail = {t["config"]["model.init_args.fail"]: t for t in report["trials"]}
    assert by_fail[False]["status"] == "completed" and by_fail[False]["iterations"] == 2
    assert by_fail[True]["status"] == "errored" and by_fail[True]["iterations"] == 1
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{tmp_path / 'runs' / 'legacy' / STUDY_FILE}")
    states = {t.user_attrs["tune_trial_id"]: t.state.name for t in study.trials}
    assert states == {by_fail[False]["trial_id"]: "COMPLETE", by_fail[True]["trial_id"]: "FAIL"}, "the study agrees"
    (done,) = [
        p
        for p in (tmp_path / "runs" / "legacy").glob("trial_*")
        if json.loads((p / "trial.json").read_text())["params"]["model.init_args.fail"] is False
    ]
    header, *rows = (done / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()
    assert "val_loss" in header.split(",") and len(rows) >= 2  # the bare CSVLogger, in pytorch_lightning
    # The user's ModelCheckpoint deleted its epoch-0 file; the deletion reached the storage too.
    kept = [p.name for p in done.rglob("*.ckpt") if not p.relative_to(done).parts[0].startswith("checkpoint_")]
    assert len(kept) == 1 and kept[0].startswith("epoch=1-"), kept
    assert by_fail[False]["model_checkpoints"] == 1

"""The sweep's own Lightning loggers know their trial (tuning/trial/loggers.py): a W&B sweep in offline mode, its runs
read back from W&B's own offline files (its transaction log, decoded with W&B's protobuf records); and the fields
filled for the other trackers' loggers, from their classes."""

import copy
import json
import os
import struct
from pathlib import Path

import pytest

from tests.conftest import TINY_SWEEP
from tuning.sweep.config import parse_sweep
from tuning.trial.loggers import TrialIdentity, logger_args, trial_id_of


def _records(path: Path):
    """The records of a W&B transaction log (`run-<id>.wandb`): a 7-byte header (":W&B", magic, version), then
    LevelDB's log format, 32 KiB blocks of chunks (checksum, length, type: full, first, middle, last), each
    record a W&B protobuf Record."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    pos, block, parts = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        parts = (b"" if kind in (1, 2) else parts) + data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            yield record


@pytest.fixture(scope="module")
def wandb_sweep(ray_session, tmp_path_factory):
    """2 trials of 1 epoch, one after the other, with a WandbLogger left without name or group, in offline mode."""
    from tuning.driver.tuner import run_sweep
    from tuning.report import load_report

    sweep = copy.deepcopy(TINY_SWEEP)
    sweep["search"].update(num_samples=2, scheduler={"name": "fifo"})
    sweep["resources"]["max_concurrent"] = 1  # one after the other, in one reused worker
    sweep["trainer"].update(
        max_epochs=1,
        # offline: W&B's own argument; the session's Ray workers were started before this module could set WANDB_MODE
        logger=[{"class_path": "WandbLogger", "init_args": {"offline": True, "project": "tuning-test"}}],
    )
    saved = dict(os.environ)  # the driver sets RAY_* and TUNE_* variables: later tests see none of them
    try:
        exp_dir = run_sweep(parse_sweep(sweep), storage=str(tmp_path_factory.mktemp("runs")), name="wandb-sweep")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return exp_dir, load_report(str(exp_dir))


def test_one_offline_run_per_trial_named_grouped_and_configured(wandb_sweep):
    exp_dir, report = wandb_sweep
    assert len(report.trials) == 2 and all(t.status == "completed" for t in report.trials)
    run_ids = set()
    for trial in report.trials:
        (log,) = (exp_dir / trial_dir(exp_dir, trial.trial_id) / "wandb").glob("offline-run-*/run-*.wandb")
        records = list(_records(log))
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        assert (run.display_name, run.run_group, run.project) == (trial.trial_id, "wandb-sweep", "tuning-test")
        config = {
            item.key: json.loads(item.value_json)
            for r in records
            if r.WhichOneof("record_type") == "config"
            for item in r.config.update
        }
        assert config["model.init_args.lr"] == pytest.approx(trial.config["model.init_args.lr"])
        assert config["model.init_args.hidden_dim"] == trial.config["model.init_args.hidden_dim"]
        assert config["lr"] == pytest.approx(trial.config["model.init_args.lr"])  # Lightning's, of the module
        assert any(r.WhichOneof("record_type") == "exit" for r in records), "the run ends with its trial"
        run_ids.add(run.run_id)
    pids = {
        json.loads((exp_dir / trial_dir(exp_dir, t.trial_id) / "trial.json").read_text())["pid"] for t in report.trials
    }
    assert len(pids) == 1, "both trials ran in one reused worker"
    assert len(run_ids) == 2  # its second trial got a run of its own, not the first one's


def trial_dir(exp_dir: Path, trial_id: str) -> str:
    (found,) = [p.name for p in exp_dir.glob(f"trial_*_{trial_id}")]
    return found


WHO = TrialIdentity("a1b2c3d4", "lr-sweep", {"model.init_args.lr": 0.01})


def test_each_trackers_logger_gets_the_trial_where_left_empty(monkeypatch):
    from lightning.pytorch.loggers import CometLogger, CSVLogger, MLFlowLogger, WandbLogger

    monkeypatch.delenv("WANDB_RUN_GROUP", raising=False)
    monkeypatch.delenv("WANDB_NAME", raising=False)
    monkeypatch.delenv("COMET_PROJECT_NAME", raising=False)
    assert logger_args(MLFlowLogger, {"tracking_uri": "x"}, WHO) == {
        "tracking_uri": "x",
        "run_name": "a1b2c3d4",
        "experiment_name": "lr-sweep",
    }
    assert logger_args(WandbLogger, {"name": "mine", "group": None}, WHO) == {"name": "mine", "group": "lr-sweep"}
    assert logger_args(CometLogger, {}, WHO) == {"name": "a1b2c3d4", "project": "lr-sweep"}
    assert logger_args(CSVLogger, {}, WHO) == {}  # not a tracker: its `name` is a folder
    monkeypatch.setenv("WANDB_RUN_GROUP", "theirs")  # the user's choice, through W&B's own variable
    assert logger_args(WandbLogger, {}, WHO) == {"name": "a1b2c3d4"}


def test_the_trial_id_is_read_from_the_trial_directory():
    assert trial_id_of("/x/exp/trial_0003_a1b2c3d4") == "a1b2c3d4"
    assert trial_id_of("/x/exp/trial_0012_edce0_00003/") == "edce0_00003"  # the variant generator's ids
    assert trial_id_of("trial_a1b2c3d4") == "a1b2c3d4"

"""Every private reach of tuning/compat/ still works with the installed Ray, Lightning and Optuna.

An upgrade that moves one fails here with the reach's name, before a sweep meets it.
"""

import json
import logging

import pytest

from tuning.compat import lightning as lightning_compat
from tuning.compat import optuna as optuna_compat
from tuning.compat import ray as ray_compat
from tuning.compat import tune as tune_compat


def test_ray_constants_and_the_loopback_switch(monkeypatch):
    constants = ray_compat.ray_constants()
    for name in ("ENABLE_RAY_CLUSTER", "RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "get_runtime_env_default_excludes"):
        assert hasattr(constants, name), f"ray._private.ray_constants.{name} is gone"
    monkeypatch.setattr(constants, "ENABLE_RAY_CLUSTER", True)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "1")
    ray_compat.bind_ray_to_loopback()
    assert constants.ENABLE_RAY_CLUSTER is False


def test_lean_head_node_skips_the_three_starts_and_restores_them():
    from ray._private.node import Node

    names = ("start_monitor", "start_api_server", "start_log_monitor")
    before = {name: getattr(Node, name) for name in names}  # AttributeError: ray._private.node.Node renamed one
    with ray_compat.lean_head_node():
        assert all(getattr(Node, name)(object()) is None for name in names)
    assert {name: getattr(Node, name) for name in names} == before


def test_tune_trial_env_is_taken_once(monkeypatch):
    from ray.tune.execution import class_cache

    monkeypatch.setattr(class_cache, "DEFAULT_ENV_VARS", {"PL_DISABLE_FORK": "1"})
    monkeypatch.setattr(class_cache, "ENV_VARS_TO_PROPAGATE", {"TUNE_X"})
    assert tune_compat.take_tune_trial_env() == {"PL_DISABLE_FORK": "1"}
    assert class_cache.DEFAULT_ENV_VARS == {} and class_cache.ENV_VARS_TO_PROPAGATE == set(), (
        "ray.tune.execution.class_cache's lists are no longer what Tune gives trial actors"
    )


def test_ray_train_session_placement_group_id_and_kv():
    import inspect

    from ray._raylet import PlacementGroupID
    from ray.experimental import internal_kv
    from ray.train._internal import session

    assert tune_compat.train_session() is None, "ray.train._internal.session.get_session outside a trial"
    assert "self.stop_event = threading.Event()" in inspect.getsource(session._TrainSession), (
        "the Train session's stop_event"
    )
    hex_id = PlacementGroupID.from_random().hex()
    assert PlacementGroupID.from_hex(hex_id).hex() == hex_id, "ray._raylet.PlacementGroupID.from_hex"
    assert callable(internal_kv._internal_kv_put) and callable(internal_kv._internal_kv_get), "internal_kv"


@pytest.mark.integration
def test_a_placement_group_known_by_its_hex_id_is_removed_and_its_resources_freed(ray_session):
    """How a stopped DDP trial frees its workers (tuning.trial.ddp): a group known only by the hex id that rank 0 left
    in the key-value store. A wrong reach here is swallowed there, and the next trial waits for good."""
    import ray
    from ray.util.placement_group import placement_group, placement_group_table

    group = placement_group([{"CPU": 1}])
    assert group.wait(60), "the group was not placed"
    ray_compat.kv_put("tuning-test-pg", group.id.hex())
    ray_compat.remove_placement_group(ray_compat.kv_get("tuning-test-pg").decode())
    assert placement_group_table(group)["state"] == "REMOVED"
    ray_compat.remove_placement_group(group.id.hex())  # again, as when the run removed it first: no error
    assert ray.available_resources().get("CPU", 0) >= 1


def test_tune_metadata_round_trips_through_tunes_own_encoder():
    from ray.train import CheckpointConfig
    from ray.train._internal.checkpoint_manager import _CheckpointManager

    manager = _CheckpointManager(checkpoint_config=CheckpointConfig(num_to_keep=1))
    blob = json.dumps({"checkpoint_manager": manager}, cls=tune_compat.tune_json_encoder())
    restored = tune_compat.tune_trial_metadata(blob)["checkpoint_manager"]
    assert tune_compat.checkpoint_results(restored) == [], "the checkpoint manager's _checkpoint_results"
    assert tune_compat.latest_checkpoint_result(restored) is None, "the checkpoint manager's _latest_checkpoint_result"
    assert tune_compat.keep_checkpoints(restored, []) is None


def test_ray_packaging_walk_and_its_excludes(tmp_path):
    (tmp_path / "keep.py").write_text("x")
    (tmp_path / "drop.log").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("x")  # in Ray's default excludes
    found = []
    ray_compat.ray_dir_walk(
        tmp_path,
        ["*.log"],
        None,
        lambda p: found.append(p.name) if p.is_file() else None,
        logger=logging.getLogger("test"),
    )
    assert found == ["keep.py"], "ray._private.runtime_env.packaging's _dir_travel/_get_excludes"
    spec = ray_compat.gitwildmatch(["*.pem", "!ok.pem"])
    assert spec.match_file("a/key.pem") and not spec.match_file("ok.pem"), "Ray's vendored pathspec"


@pytest.mark.parametrize("dist", ["lightning.pytorch", "pytorch_lightning"])
def test_lightning_reaches(tmp_path, dist):
    import importlib

    from torch.utils.tensorboard.summary import hparams

    pl = importlib.import_module(dist)
    fabric_logger = importlib.import_module(
        "lightning.fabric.utilities.logger" if dist.startswith("lightning") else "lightning_fabric.utilities.logger"
    )
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert len(lightning_compat.logged_results(trainer)) == 2, "the fit and validation loops' _results"
    assert callable(importlib.import_module(f"{dist}.core.optimizer")._init_optimizers_and_lr_schedulers), (
        f"{dist}.core.optimizer._init_optimizers_and_lr_schedulers"
    )
    logger = pl.loggers.TensorBoardLogger(tmp_path, name="tb", version="")
    flat = lightning_compat.flat_hparams(
        fabric_logger, logger, lightning_compat.convert_params(fabric_logger, {"a": {"b": 1}})
    )
    assert flat == {"a/b": 1}, "TensorBoardLogger._sanitize_params / fabric's _flatten_dict"
    for summary in hparams(flat, {"val_loss": 0.0}):
        lightning_compat.write_summary(logger, summary)
    logger.experiment.flush()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*")), "SummaryWriter._get_file_writer"


def test_optuna_search_keeps_the_attributes_study_search_uses():
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    search = OptunaSearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min")
    missing = [name for name in optuna_compat.OPTUNA_SEARCH_ATTRIBUTES if not hasattr(search, name)]
    assert not missing, f"OptunaSearch no longer keeps {missing}"
    assert hasattr(search._ot_study, "_storage"), "the study's _storage (StudySearch reads a trial's state)"
    trial = search._ot_study.ask()
    stored = search._ot_study._storage.get_trial(trial._trial_id)
    assert stored._trial_id == trial._trial_id, "Optuna's Trial/FrozenTrial._trial_id"


@pytest.mark.parametrize("package", ["lightning", "pytorch-lightning", "ray", "optuna"])
def test_the_declared_range_is_the_version_tested_here(package):
    """pyproject.toml declares, for each package tuning/compat/ reaches into, the minor version this suite runs."""
    import importlib.metadata
    from pathlib import Path

    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())["project"]
    (declared,) = [r for r in map(Requirement, project["dependencies"]) if r.name == package]
    installed = importlib.metadata.version(package)
    assert declared.specifier.contains(installed), f"{package} {installed} is not in the declared {declared}"
    major, minor = map(int, installed.split(".")[:2])
    assert not declared.specifier.contains(f"{major}.{minor + 1}.0"), f"{declared} allows an untested minor version"


def test_tunes_search_state_can_be_extended(tmp_path):
    """Tune's SearchGenerator state (search_gen_state-*.json) holds the sample count resume goes to."""
    from ray.tune.search import SearchGenerator
    from ray.tune.search.optuna import OptunaSearch
    from ray.tune.utils.util import _load_newest_checkpoint

    gen = SearchGenerator(OptunaSearch(space={}, metric="m", mode="min"))
    gen._total_samples, gen._finished = 3, True
    gen.save_to_dir(str(tmp_path), session_str="2026-01-01_00-00-00")
    assert tune_compat.extend_search(str(tmp_path), 2) == 5
    state = _load_newest_checkpoint(str(tmp_path), SearchGenerator.CKPT_FILE_TMPL.format("*"))
    assert (state["total_samples"], state["finished"]) == (5, False), "Tune's search state no longer says this"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no search state"):
        tune_compat.extend_search(str(tmp_path / "empty"), 1)


def test_nsga2_sampler_pickles_and_keeps_its_study_keys():
    import pickle
    import subprocess
    import sys

    import optuna

    sampler = optuna_compat.PicklableNSGAIISampler(seed=0)
    with pytest.raises(TypeError):  # why the seam exists: Optuna's own sampler keeps a lock
        pickle.dumps(optuna.samplers.NSGAIISampler(seed=0))
    blob = pickle.dumps(sampler)
    assert sampler._GENERATION_KEY == optuna.samplers.NSGAIISampler._GENERATION_KEY
    # A fresh process loads it (the class is looked up in tuning.compat before anything made it) and samples.
    code = (
        "import pickle, sys, optuna; s = pickle.loads(sys.stdin.buffer.read()); "
        "st = optuna.create_study(directions=['minimize', 'minimize'], sampler=s); "
        "st.optimize(lambda t: (t.suggest_float('x', 0, 1), 1 - t.suggest_float('x', 0, 1)), n_trials=3); "
        "print(len(st.trials))"
    )
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, timeout=120)
    assert out.stdout.strip() == b"3", out.stderr.decode()[-2000:]


def test_optuna_rdb_storage_reopens_the_url_of_its_pickled_state(tmp_path):
    import pickle

    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'a.db'}")
    optuna.create_study(study_name="s", storage=storage)
    state = optuna_compat.rebind_rdb_state(storage.__getstate__(), f"sqlite:///{tmp_path / 'b.db'}")
    moved = pickle.loads(pickle.dumps(storage))
    moved.__setstate__(state)
    assert moved.url.endswith("b.db") and (tmp_path / "b.db").is_file(), "RDBStorage's pickled 'url'"
    assert not optuna.get_all_study_summaries(moved), "the storage opened the new file, not the old one"


def test_tunes_search_state_is_made_to_agree_with_its_trial_list(tmp_path):
    """The SearchGenerator's created-trial count and the ConcurrencyLimiter's live trials, as Tune restores them."""
    from ray.tune.search import ConcurrencyLimiter, SearchGenerator
    from ray.tune.search.optuna import OptunaSearch
    from ray.tune.utils.util import _load_newest_checkpoint

    limiter = ConcurrencyLimiter(OptunaSearch(space={}, metric="m", mode="min"), max_concurrent=2)
    limiter.live_trials |= {"a", "ended"}  # "ended" has ended in the trial list, "b" is not live here yet
    limiter.num_unfinished_live_trials = 2
    gen = SearchGenerator(limiter)
    gen._counter, gen._total_samples = 2, 4
    gen.save_to_dir(str(tmp_path), session_str="2026-01-01_00-00-00")
    assert tune_compat.settle_search_state(str(tmp_path), 3, {"a", "b"})
    assert not tune_compat.settle_search_state(str(tmp_path), 3, {"a", "b"}), "once they agree, nothing to do"
    restored = SearchGenerator(ConcurrencyLimiter(OptunaSearch(space={}, metric="m", mode="min"), max_concurrent=2))
    restored.restore_from_dir(str(tmp_path))
    assert restored._counter == 3, "SearchGenerator's 'counter'"
    assert restored.searcher.live_trials == {"a", "b"} and restored.searcher.num_unfinished_live_trials == 2
    state = _load_newest_checkpoint(str(tmp_path), SearchGenerator.CKPT_FILE_TMPL.format("*"))
    assert state["total_samples"] == 4


def test_an_optuna_trial_is_reopened_by_its_id():
    import optuna

    study = optuna.create_study()
    asked = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    reopened = optuna_compat.optuna_trial(study, asked._trial_id)
    reopened.report(0.5, 1)
    study.tell(reopened, 0.25)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE and study.trials[0].intermediate_values == {1: 0.5}


def test_a_trial_forgets_its_statistics_but_the_kept_metrics_and_can_report_again():
    from ray.tune.experiment import Trial

    trial = Trial("a_trainable", stub=True)
    trial.update_last_result({"val_loss": 1.0, "val_acc": 0.5, "training_iteration": 1})
    assert {"val_loss", "val_acc"} <= set(trial.metric_analysis), "Trial.metric_analysis"
    tune_compat.forget_metric_history(trial, keep=("val_loss",))
    assert set(trial.metric_analysis) == set(trial.metric_n_steps) == {"val_loss"}
    trial.update_last_result({"val_loss": 0.5, "val_acc": 0.7, "training_iteration": 2})  # a resumed trial
    assert trial.metric_analysis["val_loss"]["min"] == 0.5 and trial.metric_analysis["val_acc"]["last"] == 0.7


def test_tied_checkpoints_keep_the_earliest():
    """Tune's checkpoint manager deletes from the front of its ascending list: a later tie placed before the
    earlier one goes first (tune_compat.earliest_checkpoint_wins_ties patches Ray 2.60's _insert_into_sorted_list)."""
    from ray.train._internal import checkpoint_manager

    from tuning.compat import tune as tune_compat

    tune_compat.earliest_checkpoint_wins_ties()
    kept = [("epoch 1", 0.5), ("epoch 2", 0.8)]
    checkpoint_manager._insert_into_sorted_list(kept, ("epoch 3", 0.8), key=lambda item: item[1])
    checkpoint_manager._insert_into_sorted_list(kept, ("epoch 4", 0.9), key=lambda item: item[1])
    assert kept == [("epoch 1", 0.5), ("epoch 3", 0.8), ("epoch 2", 0.8), ("epoch 4", 0.9)]


@pytest.mark.parametrize("dist", ["lightning.pytorch", "pytorch_lightning"])
def test_lightning_cli_instantiator_stores_the_config_for_load_from_checkpoint(dist):
    """lightning_compat.lightning_cli_instantiator: LightningCLI's private _InstantiatorFn, as jsonargparse takes it."""
    import importlib

    from tuning.compat import lightning as lightning_compat
    from tuning.sweep import flavour

    cli = importlib.import_module(f"{dist}.cli")
    parser = cli.LightningArgumentParser(exit_on_error=False)
    model = type(
        "Tiny",
        (flavour.base(dist, "model"),),
        {
            "__init__": lambda self, width=3, note=None: (
                flavour.base(dist, "model").__init__(self),
                self.save_hyperparameters(),
            )[0],
            "__module__": __name__,
        },
    )
    globals()["Tiny"] = model  # jsonargparse resolves class_path by import
    parser.add_lightning_class_args(flavour.base(dist, "model"), "model", subclass_mode=True)
    config = parser.parse_object({"model": {"class_path": f"{__name__}.Tiny", "init_args": {"width": 5}}})
    built = parser.instantiate(
        config, instantiators=[lightning_compat.lightning_cli_instantiator(dist, parser, config, "model", model)]
    ).model
    hparams = dict(built.hparams)
    assert hparams["_instantiator"] == f"{dist}.cli.instantiate_module"
    assert hparams["_class_path"] == f"{__name__}.Tiny" and hparams["width"] == 5 and hparams["note"] is None

"""Sweep-file validation: every bad input names its key path and what is allowed."""

import pytest
import yaml

from tuning.errors import UserError
from tuning.sweep.config import builtin_sweeps, load_sweep, parse_sweep
from tuning.sweep.file import apply_overrides


def _error(data: dict) -> str:
    with pytest.raises(UserError) as info:
        parse_sweep(data)
    return str(info.value)


def _with(sweep: dict, dotted: str, value) -> dict:
    return apply_overrides(sweep, [f"{dotted}={yaml.safe_dump(value, default_flow_style=True).strip()}"])


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("search.mode", "minimize", ["search.mode", "'min' or 'max'"]),
        ("search.num_samples", 0, ["search.num_samples", "greater than or equal to 1"]),
        ("search.num_samples", "many", ["search.num_samples", "integer"]),
        ("resources.cpu", -1, ["resources.cpu", "greater than or equal to 0"]),
        ("resources.gpu", -0.5, ["resources.gpu", "greater than or equal to 0"]),
        ("search.space.model.init_args.lr", {"loguniform": [0, 0.1]}, ["search.space.model.init_args.lr", "low > 0"]),
        ("search.space.model.init_args.lr", {"uniform": [0.5, 0.1]}, ["search.space.model.init_args.lr", "low < high"]),
        (
            "search.space.model.init_args.hidden_dim",
            {"choice": []},
            ["search.space.model.init_args.hidden_dim", "non-empty"],
        ),
        (
            "search.space.model.init_args.lr",
            {"chioce": [1]},
            ["search.space.model.init_args.lr", "did you mean 'choice'"],
        ),
        ("search.space.optimiser.lr", {"choice": [1]}, ["search.space.optimiser.lr", "model, data, trainer"]),
        (
            "search.space.model.init_args.lr",
            {"quniform": [0.1, 1.0]},
            ["search.space.model.init_args.lr", "[low, high, q]"],
        ),
        ("search.space.model.init_args.hidden_dim", {"randint": [1.5, 8]}, ["randint", "integer"]),
        ("search.searcher.name", "hyperopt", ["search.searcher.name", "'optuna', 'random' or 'grid'"]),
        ("search.scheduler.reduction_factor", 1, ["search.scheduler.reduction_factor", "greater than 1"]),
        ("run.keep_checkpoints", 0, ["run.keep_checkpoints", "greater than or equal to 1"]),
        ("name", "my sweep!", ["name", "should match pattern"]),
    ],
)
def test_bad_value_names_the_key(tiny_sweep, key, value, expected):
    message = _error(_with(tiny_sweep, key, value))
    for fragment in expected:
        assert fragment in message


def test_unknown_key_suggests_the_close_one(tiny_sweep):
    tiny_sweep["search"]["num_sample"] = 3
    tiny_sweep["resources"]["gpus"] = 1
    message = _error(tiny_sweep)
    assert "search.num_sample: unknown key (did you mean 'num_samples'?)" in message
    assert "resources.gpus: unknown key (did you mean 'gpu'?)" in message


def test_unknown_top_level_section(tiny_sweep):
    tiny_sweep["trainr"] = {}
    assert "trainr: unknown key (did you mean 'trainer'?)" in _error(tiny_sweep)


def test_missing_model_is_named(tiny_sweep):
    del tiny_sweep["model"]
    assert "model: required key is missing" in _error(tiny_sweep)


def test_asha_needs_an_epoch_budget(tiny_sweep):
    del tiny_sweep["trainer"]["max_epochs"]
    assert "trainer.max_epochs" in _error(tiny_sweep)
    tiny_sweep["search"]["scheduler"]["max_t"] = 5
    assert parse_sweep(tiny_sweep).max_epochs == 5


def test_grid_needs_the_random_searcher(tiny_sweep):
    tiny_sweep["search"]["space"]["model.init_args.hidden_dim"] = {"grid": [8, 16]}
    assert "search.space.model.init_args.hidden_dim: grid works with searcher random or grid" in _error(tiny_sweep)
    tiny_sweep["search"]["searcher"]["name"] = "random"
    assert parse_sweep(tiny_sweep).search.space["model.init_args.hidden_dim"].kind == "grid"


def test_pbt_needs_a_searcher_that_does_not_learn(tiny_sweep):
    tiny_sweep["search"]["scheduler"] = {"name": "pbt"}
    assert "search.scheduler: pbt explores by itself and works with searcher random or grid" in _error(tiny_sweep)
    tiny_sweep["search"]["searcher"] = {"name": "random"}
    assert parse_sweep(tiny_sweep).search.scheduler.name == "pbt"


def test_every_space_error_is_reported_at_once(tiny_sweep):
    tiny_sweep["search"]["space"] = {"model.init_args.lr": {"loguniform": [-1, 1]}, "data.init_args.batch_size": 4}
    message = _error(tiny_sweep)
    assert "search.space.model.init_args.lr" in message and "search.space.data.init_args.batch_size" in message


def test_overrides_are_typed_as_yaml(tiny_sweep):
    data = apply_overrides(
        tiny_sweep,
        [
            "search.num_samples=32",
            "trainer.max_epochs=10",
            "run.storage=/tmp/x",
            "search.space.model.init_args.dropout={uniform: [0.0, 0.5]}",
        ],
    )
    cfg = parse_sweep(data)
    assert cfg.search.num_samples == 32 and cfg.trainer["max_epochs"] == 10 and cfg.run.storage == "/tmp/x"
    assert cfg.search.space["model.init_args.dropout"].args == (0.0, 0.5)


@pytest.mark.parametrize(
    "item, fragment",
    [
        ("search.num_samples", "KEY=VALUE"),
        ("name.sub=3", "'name' is not a mapping"),
        ("trainer.max_epochs=[1", "not valid YAML"),
    ],
)
def test_bad_override_is_a_user_error(tiny_sweep, item, fragment):
    with pytest.raises(UserError, match="--set") as info:
        apply_overrides(tiny_sweep, [item])
    assert fragment in str(info.value)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_sweep(str(path))


def test_unknown_sweep_name_lists_builtins():
    with pytest.raises(UserError, match="built-in sweeps: .*quickstart") as info:
        load_sweep("quickstrat")
    assert "did you mean 'quickstart'" in str(info.value)


@pytest.mark.parametrize("name", sorted(builtin_sweeps()))
def test_every_builtin_sweep_parses_and_its_classes_check(name):
    from tuning.sweep.classes import check_classes

    cfg = load_sweep(name)
    assert cfg.name == name
    check_classes(cfg)
    assert parse_sweep(cfg.to_dict()) == cfg  # what we write into the experiment reads back the same


@pytest.mark.parametrize(
    "scheduler, fields",
    [
        (None, {"name": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": None, "metric": None}),
        ({"name": "fifo"}, {"name": "fifo", "max_t": None, "metric": None}),
        ({"name": "hyperband", "max_t": 4}, {"name": "hyperband", "reduction_factor": 3, "max_t": 4, "metric": None}),
        (
            {"name": "median", "metric": "val_loss"},
            {"name": "median", "grace_period": 1, "min_samples_required": 3, "max_t": None, "metric": "val_loss"},
        ),
    ],
)
def test_each_scheduler_section_holds_its_own_settings_with_the_budget_and_metric(tiny_sweep, scheduler, fields):
    if scheduler is None:
        del tiny_sweep["search"]["scheduler"]
    else:
        tiny_sweep["search"]["scheduler"] = scheduler
    cfg = parse_sweep(tiny_sweep)
    assert cfg.search.scheduler.model_dump() == fields
    assert parse_sweep(cfg.to_dict()) == cfg  # sweep.yaml reads back the same


def test_pbt_s_mutations_are_written_as_a_sweep_file_writes_them(tiny_sweep):
    tiny_sweep["search"].update(
        searcher={"name": "random"},
        scheduler={"name": "pbt", "mutations": {"model.init_args.lr": {"loguniform": [1.0e-3, 1.0e-2]}}},
    )
    written = parse_sweep(tiny_sweep).to_dict()["search"]["scheduler"]
    assert written["mutations"] == {"model.init_args.lr": {"loguniform": [1.0e-3, 1.0e-2]}}
    assert parse_sweep(tiny_sweep).search.scheduler.mutations["model.init_args.lr"].kind == "loguniform"


def test_an_earlier_experiment_s_one_scheduler_section_reads_as_its_scheduler_s_own(tiny_sweep):
    """Before each scheduler had its section, sweep.yaml held every scheduler's settings (the old experiment of
    tests/tuning/driver/old_experiment too): such a section still reads, as its own scheduler's, so it resumes."""
    tiny_sweep["search"]["scheduler"] = {
        "name": "fifo",
        "grace_period": 1,
        "reduction_factor": 3,
        "max_t": None,
        "min_samples_required": 3,
        "perturbation_interval": 2,
        "quantile_fraction": 0.25,
        "resample_probability": 0.25,
        "mutations": {},
    }
    assert parse_sweep(tiny_sweep).search.scheduler.model_dump() == {"name": "fifo", "max_t": None, "metric": None}
    tiny_sweep["search"]["scheduler"].update(name="asha", metric="val_loss")  # as the last one-section tuning wrote
    assert parse_sweep(tiny_sweep).search.scheduler.model_dump() == {
        "name": "asha",
        "max_t": None,
        "metric": "val_loss",
        "grace_period": 1,
        "reduction_factor": 3,
    }
    tiny_sweep["search"]["scheduler"]["name"] = "fifo"
    del tiny_sweep["search"]["scheduler"]["perturbation_interval"]  # not all of them: a sweep file of today's
    assert "search.scheduler.grace_period: not a field of fifo" in _error(tiny_sweep)


def test_a_batch_limit_means_what_lightnings_trainer_makes_of_it():
    """A whole float above 1 is a count to Lightning (LightningCLI prints `limit_train_batches: 5` as `5.0` in a
    process that imported Ray Tune): accepted, as Lightning's own check accepts it; a fraction above 1 is not."""
    from lightning.pytorch.trainer.setup import _determine_batch_limits
    from lightning.pytorch.utilities.exceptions import MisconfigurationException

    for value in (5.0, 5, 0.5, 1.0, 0):
        cfg = load_sweep("quickstart", [f"trainer.limit_train_batches={value}"])
        assert cfg.trainer["limit_train_batches"] == value
        _determine_batch_limits(value, "limit_train_batches")  # Lightning takes it too
    for value in (1.5, -1.0, -2):
        with pytest.raises(UserError, match="trainer.limit_train_batches: must be a number of batches"):
            load_sweep("quickstart", [f"trainer.limit_train_batches={value}"])
        with pytest.raises(MisconfigurationException):
            _determine_batch_limits(value, "limit_train_batches")

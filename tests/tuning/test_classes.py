"""Class resolution (registry names and dotted paths) and argument checks against signatures."""

import pytest

from models import MODELS
from data import DATA
from tuning.classes import check_classes, resolve_class
from tuning.config import parse_sweep
from tuning.errors import UserError


def test_registry_names_resolve_to_lightning_classes():
    import pytorch_lightning as pl

    for name in MODELS:
        assert issubclass(resolve_class("model", name), pl.LightningModule)
    for name in DATA:
        assert issubclass(resolve_class("data", name), pl.LightningDataModule)


def test_dotted_path_resolves_a_users_own_class():
    from tests.user_models import LinearClassifier

    assert resolve_class("model", "tests.user_models.LinearClassifier") is LinearClassifier


@pytest.mark.parametrize("path, fragment", [
    ("mpl", "did you mean 'mlp'"),
    ("no_such_pkg.Model", "cannot import module 'no_such_pkg'"),
    ("tests.user_models.LinearClasifier", "did you mean 'LinearClassifier'"),
])
def test_unresolvable_class_path_is_named(path, fragment):
    with pytest.raises(UserError, match="model.class_path") as info:
        resolve_class("model", path)
    assert fragment in str(info.value)


def _check(sweep):
    with pytest.raises(UserError) as info:
        check_classes(parse_sweep(sweep))
    return str(info.value)


def test_unknown_init_arg_is_named_with_a_suggestion(tiny_sweep):
    tiny_sweep["model"]["init_args"]["hiden_dim"] = 3
    message = _check(tiny_sweep)
    assert "model.init_args.hiden_dim" in message and "did you mean 'hidden_dim'" in message


def test_unknown_arg_in_the_space_is_named(tiny_sweep):
    tiny_sweep["search"]["space"]["data.init_args.batchsize"] = {"choice": [8]}
    assert "search.space.data.init_args.batchsize" in _check(tiny_sweep)


def test_missing_required_arg_is_named(tiny_sweep):
    tiny_sweep["model"] = {"class_path": "tests.user_models.LinearClassifier", "init_args": {}}
    tiny_sweep["search"]["space"] = {"model.init_args.lr": {"loguniform": [1e-3, 1e-1]}}
    assert "needs argument 'width'" in _check(tiny_sweep)
    tiny_sweep["search"]["space"]["model.init_args.width"] = {"choice": [64]}
    check_classes(parse_sweep(tiny_sweep))  # supplied by the space: fine


def test_trainer_keys_are_checked_against_lightning(tiny_sweep):
    tiny_sweep["trainer"]["max_epoch"] = 3
    assert "trainer.max_epoch" in _check(tiny_sweep) and "did you mean 'max_epochs'" in _check(tiny_sweep)


def test_trainer_keys_tuning_owns_are_refused(tiny_sweep):
    tiny_sweep["trainer"]["logger"] = False
    assert "trainer.logger: set by tuning" in _check(tiny_sweep)


def test_model_must_be_a_lightning_module(tiny_sweep):
    tiny_sweep["model"] = {"class_path": "tests.user_models.NotAModule"}
    tiny_sweep["search"]["space"] = {}
    assert "not a LightningModule subclass" in _check(tiny_sweep)


def test_space_over_model_needs_init_args(tiny_sweep):
    tiny_sweep["search"]["space"]["model.lr"] = {"choice": [0.1]}
    assert "search.space.model.lr" in _check(tiny_sweep)

"""Class resolution (registry names and dotted paths) and argument checks against signatures."""

import sys

import pytest

from tuning.data import DATA
from tuning.errors import UserError
from tuning.models import MODELS
from tuning.sweep.class_paths import resolve_class
from tuning.sweep.classes import check_classes
from tuning.sweep.config import parse_sweep


def test_registry_names_resolve_to_lightning_classes():
    import lightning.pytorch as pl

    for name in MODELS:
        assert issubclass(resolve_class("model", name), pl.LightningModule)
    for name in DATA:
        assert issubclass(resolve_class("data", name), pl.LightningDataModule)


def test_dotted_path_resolves_a_users_own_class():
    from tests.user_models import LinearClassifier

    assert resolve_class("model", "tests.user_models.LinearClassifier") is LinearClassifier


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("mpl", "did you mean 'mlp'"),
        ("no_such_pkg.Model", "cannot import module 'no_such_pkg'"),
        ("tests.user_models.LinearClasifier", "did you mean 'LinearClassifier'"),
    ],
)
def test_unresolvable_class_path_is_named(path, fragment):
    with pytest.raises(UserError, match="model.class_path") as info:
        resolve_class("model", path)
    assert fragment in str(info.value)


def _check(sweep):
    """The error of the importing check (tuning run), which the source check (tuning validate) must equal."""
    messages = []
    for static in (False, True):
        with pytest.raises(UserError) as info:
            check_classes(parse_sweep(sweep), static=static)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    return messages[0]


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
    check_classes(parse_sweep(tiny_sweep), static=True)


def test_trainer_keys_are_checked_against_lightning(tiny_sweep):
    tiny_sweep["trainer"]["max_epoch"] = 3
    assert "trainer.max_epoch" in _check(tiny_sweep) and "did you mean 'max_epochs'" in _check(tiny_sweep)


def test_trainer_keys_tuning_owns_are_refused(tiny_sweep):
    tiny_sweep["trainer"]["enable_progress_bar"] = True
    assert "trainer.enable_progress_bar: set by tuning" in _check(tiny_sweep)
    tiny_sweep["trainer"]["enable_progress_bar"] = None  # LightningCLI's printed default: left to tuning
    check_classes(parse_sweep(tiny_sweep))


def test_model_must_be_a_lightning_module(tiny_sweep):
    tiny_sweep["model"] = {"class_path": "tests.user_models.NotAModule"}
    tiny_sweep["search"]["space"] = {}
    assert "not a LightningModule subclass" in _check(tiny_sweep)


def test_space_over_model_needs_init_args(tiny_sweep):
    tiny_sweep["search"]["space"]["model.lr"] = {"choice": [0.1]}
    assert "search.space.model.lr" in _check(tiny_sweep)


def test_callback_errors_from_source_equal_the_imported_ones(tiny_sweep):
    for callbacks in (
        [{"class_path": "LearningRateMonitor", "init_args": {"interval": "epoch"}}],
        [{"class_path": "tests.user_models.LinearClassifier"}],
        [{"class_path": "tests.user_callbacks.RecordTrainerOptions", "init_args": {"filname": "x"}}],
    ):
        tiny_sweep["trainer"]["callbacks"] = callbacks
        assert "trainer.callbacks[0]" in _check(tiny_sweep)


USER_MODULE = """
import lightning as L


class Wide(L.LightningModule):
    def __init__(self, width: int, lr: float = 0.01, hidden_dim: int = 8):
        super().__init__()


class NotOne:
    def __init__(self, width: int = 1):
        pass


class Inherits(Wide):
    pass
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's module on sys.path, with a name no other test imports."""
    name = f"user_mod_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _static_error(sweep) -> str:
    with pytest.raises(UserError) as info:
        check_classes(parse_sweep(sweep), static=True)
    return str(info.value)


def test_the_source_check_catches_a_users_class_without_importing_it(tiny_sweep, user_module):
    tiny_sweep["model"] = {"class_path": f"{user_module}.Wide", "init_args": {"width": 4, "hiden_dim": 8}}
    assert (
        "model.init_args.hiden_dim: Wide has no argument 'hiden_dim' (did you mean 'hidden_dim'?); it accepts: "
        "width, lr, hidden_dim" in _static_error(tiny_sweep)
    )
    tiny_sweep["model"]["init_args"] = {}
    assert "model.init_args: Wide needs argument 'width'" in _static_error(tiny_sweep)
    tiny_sweep["model"]["class_path"] = f"{user_module}.NotOne"
    assert f"model.class_path: {user_module}.NotOne is not a LightningModule subclass" in _static_error(tiny_sweep)
    tiny_sweep["model"] = {"class_path": f"{user_module}.Wide", "init_args": {"width": 4}}
    assert check_classes(parse_sweep(tiny_sweep), static=True) == (None, None, "lightning.pytorch")  # neither imported
    assert user_module not in sys.modules


def test_an_inherited_init_is_checked_by_importing(tiny_sweep, user_module):
    tiny_sweep["model"] = {"class_path": f"{user_module}.Inherits", "init_args": {}}
    assert "model.init_args: Inherits needs argument 'width'" in _static_error(tiny_sweep)
    assert user_module in sys.modules  # the source could not say: the class was imported


def test_a_module_with_a_missing_dependency_is_imported_and_named(tiny_sweep, tmp_path, monkeypatch):
    (tmp_path / "needs_gone_dep.py").write_text("import gone_dependency_xyz\n\nclass M:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny_sweep["model"] = {"class_path": "needs_gone_dep.M"}
    assert "cannot import module 'needs_gone_dep'" in _static_error(tiny_sweep)


CALLBACK_MODULE = """
from lightning.pytorch.callbacks import LearningRateFinder, TQDMProgressBar


class QuietBar(TQDMProgressBar):
    def __init__(self, refresh_rate: int = 10):
        super().__init__(refresh_rate=refresh_rate)


class MyFinder(LearningRateFinder):
    def __init__(self, min_lr: float = 1e-6):
        super().__init__(min_lr=min_lr)
"""


def test_validate_passes_progress_bars_and_refuses_a_finder_subclass_from_source(tiny_sweep, tmp_path, monkeypatch):
    """`tuning validate` reads a user's callbacks from source: a progress bar (Lightning's, or the user's subclass)
    passes, to be dropped in the trials; a subclass of Lightning's LR finder is refused by its bases; neither is
    imported."""
    name = f"user_callbacks_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(CALLBACK_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny_sweep["trainer"]["callbacks"] = [
        {"class_path": "RichProgressBar"},
        {"class_path": "TQDMProgressBar"},
        {"class_path": f"{name}.QuietBar", "init_args": {"refresh_rate": 5}},
    ]
    check_classes(parse_sweep(tiny_sweep), static=True)
    tiny_sweep["trainer"]["callbacks"].append({"class_path": f"{name}.MyFinder"})
    assert (
        "trainer.callbacks[3]: MyFinder cannot run inside a trial: it overwrites the learning rate each trial "
        "samples" in _static_error(tiny_sweep)
    )
    assert name not in sys.modules


def test_validate_refuses_a_finder_callback_without_importing_torch(tiny_sweep, tmp_path):
    """exit 2 naming the callback, and `tuning validate` still imports neither torch nor Lightning."""
    import yaml

    from tests.imports import fresh_imports

    tiny_sweep["trainer"]["callbacks"] = [{"class_path": "RichProgressBar"}, {"class_path": "BatchSizeFinder"}]
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(tiny_sweep))
    code = "import sys\nfrom tuning.cli.commands import main\nprint('rc', main(['validate', sys.argv[1]]))"
    out, err, imported = fresh_imports(code, ("torch", "lightning", "pytorch_lightning"), str(tmp_path / "sweep.yaml"))
    assert "rc 2" in out and "trainer.callbacks[1]: BatchSizeFinder cannot run inside a trial" in err
    assert imported == []


@pytest.mark.parametrize("statement", ["import sys; sys.exit(0)", "raise SystemExit(3)", "raise KeyboardInterrupt"])
def test_a_module_that_exits_at_import_is_named_not_a_silent_exit(tmp_path, monkeypatch, statement):
    (tmp_path / "exits_at_import.py").write_text(statement + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError, match="model.class_path: importing module 'exits_at_import'"):
        resolve_class("model", "exits_at_import.Model")

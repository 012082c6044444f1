"""Classes read from source: the answers equal `inspect`'s on the real classes, or are None (unknown)."""

import sys
import textwrap

import pytest

from tuning.data import DATA
from tuning.models import MODELS
from tuning.sweep import flavour, signatures
from tuning.sweep.class_paths import from_source, parameters, split_path


def _same_as_imported(section, module, name):
    """The source answer, checked against the imported class; False when the source gave no answer."""
    import importlib

    found = from_source(module, name, section)
    if found is None:
        return False
    cls = getattr(importlib.import_module(module), name)
    assert found[0] == parameters(cls)
    assert found[1] == ((flavour.of_class(cls, section) or False) if section else None)
    assert found[2] == f"{cls.__module__}.{cls.__qualname__}"
    return True


@pytest.mark.parametrize("section, name", [("model", n) for n in MODELS] + [("data", n) for n in DATA])
def test_every_registered_class_reads_from_source_as_imported(section, name):
    assert _same_as_imported(section, *split_path(section, name))


@pytest.mark.parametrize("dist", flavour.NAMES)
def test_the_trainer_reads_from_source_through_its_decorator(dist):
    trainer = flavour.defined_at(dist, "trainer")
    assert _same_as_imported(None, *trainer)
    ref = signatures.resolve(*trainer[:1], [trainer[1]])
    assert signatures.signature(ref) is None  # the decorator is trusted only when named


@pytest.mark.parametrize("dist", flavour.NAMES)
def test_lightning_callbacks_read_from_source_as_imported(dist):
    import importlib

    names = [n for n in dir(importlib.import_module(f"{dist}.callbacks")) if n[0].isupper()]
    read = [n for n in names if _same_as_imported("callback", f"{dist}.callbacks", n)]
    assert {"EarlyStopping", "ModelCheckpoint", "LearningRateMonitor"} <= set(read)


@pytest.mark.parametrize(
    "source, dist",
    [
        ("import lightning as L\nclass M(L.LightningModule):\n", "lightning.pytorch"),
        ("import lightning.pytorch as pl\nclass M(pl.LightningModule):\n", "lightning.pytorch"),
        ("import pytorch_lightning as pl\nclass M(pl.LightningModule):\n", "pytorch_lightning"),
    ],
)
def test_the_distribution_of_a_module_reads_from_source(tmp_path, monkeypatch, source, dist):
    name = f"flavour_mod_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(source + "    def __init__(self, x: int = 1):\n        super().__init__()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = from_source(name, "M", "model")
    assert found is not None and found[1] == dist
    assert name not in sys.modules


SOURCE = """
import functools

import pytorch_lightning as pl
from pytorch_lightning import LightningModule as LM
from .helpers import Mixin


def keep(f):
    return functools.wraps(f)(lambda *a, **k: f(*a, **k))


class Full(pl.LightningModule):
    def __init__(self, a, /, b, c=1, *args, d, e=2, **kwargs):
        super().__init__()


class Aliased(LM, Mixin):
    def __init__(self, x: int = 0):
        super().__init__()


class Plain(dict):
    def __init__(self):
        pass


class Decorated(LM):
    @keep
    def __init__(self, x):
        super().__init__()


@functools.total_ordering
class DecoratedClass(LM):
    def __init__(self, x):
        super().__init__()


class Conditional(LM):
    if True:
        def __init__(self, x):
            super().__init__()


class Inherits(Full):
    pass


class Generic_(LM, dict[str, int]):
    def __init__(self):
        super().__init__()


if True:
    class Hidden(LM):
        def __init__(self):
            super().__init__()
"""


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    """A package `srcpkg_<id>` with module `mod` (SOURCE) and `helpers`, on sys.path, never imported."""
    name = f"srcpkg_{tmp_path.name.replace('-', '_')}"
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("class Mixin:\n    pass\n")
    (pkg / "mod.py").write_text(textwrap.dedent(SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield f"{name}.mod"
    assert name not in sys.modules  # read, never imported


def _ref(module, name):
    return signatures.resolve(module, [name])


def test_arguments_and_bases_from_source(user_pkg):
    lightning = flavour.defined_at("pytorch_lightning", "model")
    full = _ref(user_pkg, "Full")
    sig = signatures.signature(full)
    assert sig.named == {"b": True, "c": False, "d": True, "e": False} and sig.var_kw  # `a` is positional-only
    assert signatures.is_subclass(full, lightning) is True
    assert signatures.is_subclass(_ref(user_pkg, "Aliased"), lightning) is True  # alias + relative import
    assert signatures.is_subclass(_ref(user_pkg, "Plain"), lightning) is False
    assert signatures.importable(full)


@pytest.mark.parametrize("name", ["Decorated", "DecoratedClass", "Conditional", "Inherits"])
def test_what_source_cannot_tell_is_unknown(user_pkg, name):
    assert signatures.signature(_ref(user_pkg, name)) is None


def test_unknown_bases_and_hidden_classes(user_pkg):
    assert (
        signatures.is_subclass(_ref(user_pkg, "Inherits"), flavour.defined_at("pytorch_lightning", "model")) is True
    )  # through Full
    assert (
        signatures.is_subclass(_ref(user_pkg, "Generic_"), flavour.defined_at("pytorch_lightning", "model")) is True
    )  # one base says yes
    assert _ref(user_pkg, "Hidden") is None  # defined inside an `if`
    assert _ref(user_pkg, "Missing") is None
    assert signatures.resolve("no_such_package_here.mod", ["X"]) is None


def test_a_module_importing_a_missing_package_is_not_importable(tmp_path, monkeypatch):
    (tmp_path / "needs_missing_dep.py").write_text("import no_such_dependency_xyz\n\nclass M:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not signatures.importable(_ref("needs_missing_dep", "M"))  # so the check imports it and says why

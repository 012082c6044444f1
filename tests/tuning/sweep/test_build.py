"""Conformance of tuning.sweep.build: a trial builds from a `model`/`data` section what LightningCLI builds from it
(a real `LightningCLI(..., run=False)`) or, for a Hydra node, what `hydra.utils.instantiate` builds.

Each config is built both ways and the two objects are compared on what a user would notice: the class, the
hyperparameters (`hparams`, which LightningCLI's instantiator fills with the config), the parameter count, the
nested modules (classes, plain attributes, state_dict shapes) and the objects the injected callables return
(the optimizer an `OptimizerCallable` makes, the scheduler an `LRSchedulerCallable` makes). Each config also
states the values it means (`expect`), so a test fails when both sides agree on something else.
The classes live in tests/conformance (both Lightning distributions).
"""

import copy
import functools
import importlib
import sys
from dataclasses import dataclass

import pytest
import torch
from jsonargparse import ArgumentError

from tuning.errors import UserError
from tuning.sweep.build import build_section
from tuning.sweep.lightning_cli import normalize_sections

LIT, PL, NETS, HYDRA = (f"tests.conformance.{name}." for name in ("lit", "pl", "nets", "hydra_models"))
TRAINER = {
    "logger": False,
    "enable_checkpointing": False,
    "max_epochs": 1,
    "accelerator": "cpu",
    "enable_progress_bar": False,
    "enable_model_summary": False,
}
PLAIN = (int, float, str, bool, type(None))


def qualname(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


# --- what is compared -------------------------------------------------------------------------------------


def plain(value):
    """A value as comparable data: modules, partials, callables and OmegaConf containers described, not kept."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):  # which container Hydra gave (`_convert_`) is part of it
        return {"omegaconf": type(value).__name__, "value": plain(OmegaConf.to_container(value))}
    if isinstance(value, torch.nn.Module):
        return {"module": qualname(type(value)), **attributes(value)}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, type):
        return qualname(value)
    if callable(value):  # Hydra's `_partial_` and jsonargparse's callables are both functools.partial
        return {"partial": isinstance(value, functools.partial), **called(value)}
    return value


def called(factory) -> dict:
    """What an injected callable makes: an optimizer from parameters, or else a scheduler from an optimizer."""
    weight = torch.nn.Parameter(torch.zeros(2))
    try:
        made = factory([weight])
    except Exception:  # not an optimizer factory: a scheduler's takes an optimizer
        made = factory(torch.optim.SGD([weight], lr=1.0))
    if isinstance(made, torch.optim.Optimizer):
        return {"class": qualname(type(made)), **plain(dict(made.defaults))}
    return {"class": qualname(type(made)), **{k: v for k, v in vars(made).items() if isinstance(v, PLAIN)}}


def attributes(obj) -> dict:
    """An object's own public plain attributes and injected callables (not its modules, not Lightning's own)."""
    own = {k: v for k, v in vars(obj).items() if not k.startswith("_") and k not in BASE_ATTRIBUTES and k != "training"}
    return {k: plain(v) for k, v in own.items()}


def base_attributes() -> set:
    import lightning.pytorch as lp
    import pytorch_lightning as pl

    return {
        k
        for base in (lp.LightningModule(), lp.LightningDataModule(), pl.LightningModule(), pl.LightningDataModule())
        for k in vars(base)
    }


BASE_ATTRIBUTES = base_attributes()


def summary(obj) -> dict:
    """Everything compared between the two builds of one config."""
    modules = dict(obj.named_modules()) if isinstance(obj, torch.nn.Module) else {}
    return {
        "class": qualname(type(obj)),
        "hparams": plain(dict(obj.hparams)),
        "params": sum(p.numel() for p in obj.parameters()) if modules else 0,
        "modules": {name: qualname(type(m)) for name, m in modules.items()},
        "module_values": {name: attributes(m) for name, m in modules.items() if name},
        "shapes": {k: tuple(v.shape) for k, v in obj.state_dict().items()} if modules else {},
        "values": attributes(obj),
    }


def at(tree, path: str):
    """The value at a dotted path in a summary; keys that hold dots themselves (`backbone.net.0`) match whole."""
    while path:
        if isinstance(tree, dict):
            key = max((k for k in tree if path == k or path.startswith(f"{k}.")), key=len, default=None)
            if key is None:
                raise KeyError(f"{path} (have {sorted(tree)})")
        else:
            key = int(path.split(".")[0])
        tree, path = tree[key], path[len(str(key)) + 1 :]
    return tree


def assert_means(obj, expect: dict) -> None:
    described = summary(obj)
    for path, value in expect.items():
        assert at(described, path) == value, path


# --- the LightningCLI configs -----------------------------------------------------------------------------


@dataclass
class Case:
    """One section as LightningCLI is given it, and the values it means."""

    id: str
    config: dict  # the section: class_path + init_args (subclass mode), or the fixed class's bare arguments
    expect: dict  # summary path -> value
    section: str = "model"
    fixed: str | None = None  # LightningCLI(ThisClass): the fixed form; None: subclass mode
    dist: str = "lightning.pytorch"
    form: str = "subclass"  # the cli_form normalize_sections gives it


def entry(class_path: str, **init_args) -> dict:
    return {"class_path": class_path, "init_args": init_args}


def mlp(**init_args) -> dict:
    return entry(NETS + "MLP", **init_args)


DEPTH_3 = entry(NETS + "Residual", scale=0.5, inner=entry(NETS + "Residual", inner=mlp(hidden_dim=7, out_dim=8)))
LINEAR, RELU = "torch.nn.modules.linear.Linear", "torch.nn.modules.activation.ReLU"

CASES = [
    Case(
        "nested module",
        entry(LIT + "BackboneModel", backbone=mlp(hidden_dim=24), lr=0.1),
        {
            "shapes.backbone.net.0.weight": (24, 8),
            "hparams.lr": 0.1,
            "hparams.backbone.init_args.hidden_dim": 24,
            "hparams._class_path": LIT + "BackboneModel",
            "params": 8 * 24 + 24 + 24 * 4 + 4,
        },
    ),
    Case(
        "fixed class",
        {"backbone": mlp(hidden_dim=24, num_layers=2), "lr": 0.1},
        {"shapes.backbone.net.2.weight": (24, 24), "hparams.lr": 0.1, "class": LIT + "BackboneModel"},
        fixed=LIT + "BackboneModel",
        form="fixed",
    ),
    Case(
        "nested in a list",
        entry(
            LIT + "ListModel",
            layers=[
                entry("torch.nn.Linear", in_features=8, out_features=6),
                {"class_path": "torch.nn.Tanh"},
                mlp(in_dim=6, hidden_dim=5),
            ],
        ),
        {
            "shapes.layers.0.weight": (6, 8),
            "modules.layers.1": "torch.nn.modules.activation.Tanh",
            "shapes.layers.2.net.0.weight": (5, 6),
            "hparams.layers.1.class_path": "torch.nn.Tanh",
        },
    ),
    Case(
        "callable optimizer and scheduler",
        entry(
            LIT + "InjectedModel",
            backbone=mlp(),
            optimizer=entry("torch.optim.SGD", lr=0.3, momentum=0.9),
            scheduler=entry("torch.optim.lr_scheduler.StepLR", step_size=3, gamma=0.5),
        ),
        {
            "values.optimizer.class": "torch.optim.sgd.SGD",
            "values.optimizer.lr": 0.3,
            "values.optimizer.momentum": 0.9,
            "values.scheduler.class": "torch.optim.lr_scheduler.StepLR",
            "values.scheduler.step_size": 3,
            "values.scheduler.gamma": 0.5,
            "hparams.optimizer.init_args.lr": 0.3,
        },
    ),
    Case(
        "callables by short name",
        entry(LIT + "InjectedModel", backbone=mlp(), optimizer="AdamW", scheduler=entry("ConstantLR", factor=0.25)),
        {
            "values.optimizer.class": "torch.optim.adamw.AdamW",
            "values.scheduler.factor": 0.25,
            "hparams.scheduler.class_path": "torch.optim.lr_scheduler.ConstantLR",
        },
    ),
    Case(
        "dict-typed arguments",
        {
            "sizes": {"hidden": 6},
            "options": {"depth": 2, "tags": ["a", "b"]},
            "heads": {
                "main": entry("torch.nn.Linear", in_features=6, out_features=4),
                "aux": mlp(in_dim=6, hidden_dim=3),
            },
        },
        {
            "values.sizes": {"hidden": 6},
            "values.options": {"depth": 2, "tags": ["a", "b"]},
            "shapes.heads.main.weight": (4, 6),
            "shapes.heads.aux.net.0.weight": (3, 6),
            "hparams.sizes": {"hidden": 6},
        },
        fixed=LIT + "DictModel",
        form="fixed",
    ),
    Case(
        "class_path entry in a dict[str, Any]",
        entry(
            LIT + "DictModel",
            sizes={"hidden": 6},
            heads={"main": "torch.nn.Identity"},
            options={"layer": entry("torch.nn.Linear", in_features=2, out_features=3)},
        ),
        {"values.options.layer.module": LINEAR, "values.options.layer.out_features": 3},
    ),
    Case(
        "subclass of a base-class-typed argument",
        entry(LIT + "HeadModel", backbone=mlp(), head=entry(NETS + "MLPHead", num_classes=3, hidden=5)),
        {
            "modules.head": NETS + "MLPHead",
            "shapes.head.fc.0.weight": (5, 4),
            "module_values.head.num_classes": 3,
            "values.out_dim": 3,
        },
    ),
    Case(
        "defaults omitted",
        {"class_path": LIT + "DefaultsModel"},
        {
            "hparams.hidden_dim": 12,
            "hparams.lr": 0.05,
            "shapes.net.0.weight": (12, 8),
            "values.optimizer.class": "torch.optim.sgd.SGD",
            "hparams.optimizer.class_path": "torch.optim.SGD",
        },
    ),
    Case(
        "nested defaults omitted",
        entry(LIT + "BackboneModel", backbone={"class_path": NETS + "MLP"}),
        {
            "hparams.backbone.init_args": {"in_dim": 8, "hidden_dim": 16, "out_dim": 4, "num_layers": 1},
            "hparams.lr": 0.01,
            "shapes.backbone.net.0.weight": (16, 8),
        },
    ),
    Case(
        "shorthand: a class path as a string",
        entry(LIT + "BackboneModel", backbone=NETS + "MLP"),
        {"modules.backbone": NETS + "MLP", "hparams.backbone.class_path": NETS + "MLP"},
    ),
    Case(
        "shorthand: a class by its name",
        entry(LIT + "BackboneModel", backbone=entry("MLP", hidden_dim=9)),
        {
            "modules.backbone": NETS + "MLP",
            "hparams.backbone.class_path": NETS + "MLP",
            "shapes.backbone.net.0.weight": (9, 8),
        },
    ),
    Case(
        "shorthand: arguments of the annotated class (implicit class_path)",
        entry(LIT + "HeadModel", backbone=mlp(), head={"num_classes": 3}),
        {"modules.head": NETS + "Head", "module_values.head.num_classes": 3, "hparams.head.class_path": NETS + "Head"},
    ),
    Case(
        "shorthand: init_args of the default class",
        entry(LIT + "DefaultsModel", optimizer={"init_args": {"lr": 0.2, "momentum": 0.5}}),
        {"values.optimizer.class": "torch.optim.sgd.SGD", "values.optimizer.lr": 0.2, "values.optimizer.momentum": 0.5},
    ),
    Case(
        "shorthand: dict_kwargs",
        entry(LIT + "BackboneModel", backbone={"class_path": NETS + "MLP", "dict_kwargs": {"hidden_dim": 11}}),
        {"shapes.backbone.net.0.weight": (11, 8), "hparams.backbone.init_args.hidden_dim": 11},
    ),
    Case(
        "nested at depth 3",
        entry(LIT + "BackboneModel", backbone=DEPTH_3),
        {
            "shapes.backbone.inner.inner.net.0.weight": (7, 8),
            "module_values.backbone.scale": 0.5,
            "module_values.backbone.inner.scale": 1.0,
            "modules.backbone.inner.inner": NETS + "MLP",
            "hparams.backbone.init_args.inner.init_args.inner.init_args.hidden_dim": 7,
        },
    ),
    Case(
        "Optional arguments given null",
        entry(LIT + "OptionalModel", backbone=mlp(), head=None, dropout=None, scheduler=None),
        {
            "values.head": None,
            "values.dropout": None,
            "values.scheduler": None,
            "modules": {
                "": LIT + "OptionalModel",
                "backbone": NETS + "MLP",
                "backbone.net": "torch.nn.modules.container.Sequential",
                "backbone.net.0": LINEAR,
                "backbone.net.1": RELU,
                "backbone.net.2": LINEAR,
            },
        },
    ),
    Case(
        "Optional arguments given values",
        entry(
            LIT + "OptionalModel",
            backbone=mlp(),
            head=entry(NETS + "LinearHead", bias=False),
            scheduler=entry("torch.optim.lr_scheduler.ExponentialLR", gamma=0.9),
        ),
        {
            "values.dropout": 0.25,
            "modules.head": NETS + "LinearHead",
            "shapes.head.fc.weight": (2, 4),
            "values.scheduler.class": "torch.optim.lr_scheduler.ExponentialLR",
            "values.scheduler.gamma": 0.9,
        },
    ),
    Case(
        "data module, fixed",
        {"batch_size": 2, "transform": entry(NETS + "Noise", std=0.3)},
        {
            "values.batch_size": 2,
            "values.num_samples": 16,
            "values.transform.module": NETS + "Noise",
            "values.transform.std": 0.3,
            "hparams.transform.init_args.std": 0.3,
        },
        section="data",
        fixed=LIT + "TinyData",
        form="fixed",
    ),
    Case(
        "data module, subclass mode",
        entry(LIT + "TinyData", num_samples=8),
        {"values.num_samples": 8, "values.batch_size": 4, "hparams._class_path": LIT + "TinyData"},
        section="data",
    ),
    Case(
        "pytorch_lightning module",
        entry(
            PL + "PLInjectedModel",
            backbone=mlp(hidden_dim=6),
            optimizer=entry("torch.optim.Adam", lr=0.02),
            scheduler=entry("torch.optim.lr_scheduler.ConstantLR", factor=0.5),
        ),
        {
            "class": PL + "PLInjectedModel",
            "values.optimizer.class": "torch.optim.adam.Adam",
            "values.optimizer.lr": 0.02,
            "values.scheduler.factor": 0.5,
            "shapes.backbone.net.0.weight": (6, 8),
            "hparams._instantiator": "pytorch_lightning.cli.instantiate_module",
        },
        dist="pytorch_lightning",
    ),
    Case(
        "pytorch_lightning module, nested at depth 3",
        entry(PL + "PLInjectedModel", backbone=DEPTH_3),
        {"shapes.backbone.inner.inner.net.0.weight": (7, 8), "values.optimizer.class": "torch.optim.adam.Adam"},
        dist="pytorch_lightning",
    ),
    Case(
        "pytorch_lightning data module, fixed",
        {"batch_size": 3},
        {"values.batch_size": 3, "class": PL + "PLData"},
        section="data",
        fixed=PL + "PLData",
        dist="pytorch_lightning",
        form="fixed",
    ),
]

# The model LightningCLI is given beside a data module (it requires one).
MODEL_BESIDE = {
    "lightning.pytorch": {"class_path": LIT + "DefaultsModel"},
    "pytorch_lightning": {"class_path": PL + "PLInjectedModel", "init_args": {"backbone": NETS + "MLP"}},
}


def load(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def lightning_cli(case: Case):
    """What LightningCLI builds from the case's section (its own parser, instantiator and Trainer)."""
    cli_class = importlib.import_module(f"{case.dist}.cli").LightningCLI
    fixed = load(case.fixed) if case.fixed else None
    model_class, data_class = (fixed, None) if case.section == "model" else (None, fixed)
    args = {case.section: copy.deepcopy(case.config)}
    if case.section == "data":
        args["model"] = copy.deepcopy(MODEL_BESIDE[case.dist])
    cli = cli_class(
        model_class,
        data_class,
        subclass_mode_model=model_class is None,
        subclass_mode_data=data_class is None,
        run=False,
        args=args,
        trainer_defaults=TRAINER,
        save_config_callback=None,
        seed_everything_default=False,
        parser_kwargs={"exit_on_error": False},
    )
    return cli.model if case.section == "model" else cli.datamodule


def section_spec(case: Case) -> dict:
    """The case's section as a sweep file holds it: the fixed form with the class_path the user adds beside it."""
    raw = copy.deepcopy(case.config)
    if case.fixed:
        raw = {"class_path": case.fixed, **raw}
    return normalize_sections({case.section: raw})[case.section]


def tuning_build(case: Case):
    spec = section_spec(case)
    assert spec.get("cli_form", "subclass") == case.form
    return build_section(spec, case.section)


@pytest.fixture(autouse=True)
def _quiet_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lightningcli"])  # LightningCLI warns when given args beside pytest's argv


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_builds_what_lightning_cli_builds(case):
    theirs, ours = lightning_cli(case), tuning_build(case)
    assert_means(theirs, case.expect)  # the config means what the case says, to LightningCLI...
    assert_means(ours, case.expect)  # ...and to a trial
    expected, got = summary(theirs), summary(ours)
    assert got == expected
    assert type(ours) is type(theirs)


def test_the_suite_covers_both_distributions_and_every_form():
    assert {c.dist for c in CASES} == {"lightning.pytorch", "pytorch_lightning"}
    assert {(c.section, c.form) for c in CASES} >= {
        ("model", "subclass"),
        ("model", "fixed"),
        ("data", "subclass"),
        ("data", "fixed"),
    }
    assert len(CASES) >= 12


def test_hparams_keep_arguments_given_null():
    case = next(c for c in CASES if c.id == "Optional arguments given null")
    assert dict(lightning_cli(case).hparams)["dropout"] is None  # LightningCLI keeps it
    assert dict(tuning_build(case).hparams).get("dropout", "left out") is None


def test_arguments_beside_class_path_mean_init_args():
    """tuning's own shorthand (`model.lr` is `model.init_args.lr`, as on LightningCLI's command line): a section
    with init_args and arguments beside it is built as LightningCLI builds them all in init_args."""
    written = {"class_path": LIT + "BackboneModel", "lr": 0.2, "init_args": {"backbone": mlp(hidden_dim=5)}}
    spec = normalize_sections({"model": written})["model"]
    ours = build_section(spec, "model")
    theirs = lightning_cli(
        Case("", {"class_path": LIT + "BackboneModel", "init_args": {"backbone": mlp(hidden_dim=5), "lr": 0.2}}, {})
    )
    assert summary(ours) == summary(theirs)
    assert ours.hparams.lr == 0.2 and ours.backbone.net[0].out_features == 5


def test_the_section_is_not_changed_by_building_it():
    """jsonargparse edits the dicts it parses (it pops dict_kwargs, turns list items into Namespaces): a spec
    built twice (preflight, then the trial) must mean the same both times."""
    case = next(c for c in CASES if c.id == "shorthand: dict_kwargs")
    spec = section_spec(case)
    spec["init_args"]["layers"] = [{"class_path": "torch.nn.ReLU"}]  # an unknown argument: refused, after parsing
    kept = copy.deepcopy(spec)
    with pytest.raises(UserError):
        build_section(spec, "model")
    assert spec == kept
    del spec["init_args"]["layers"]
    first, second = build_section(spec, "model"), build_section(spec, "model")
    assert first.backbone.net[0].out_features == second.backbone.net[0].out_features == 11


# --- configs LightningCLI refuses -------------------------------------------------------------------------


def backbone_model(backbone, **init_args) -> dict:
    return entry(LIT + "BackboneModel", backbone=backbone, **init_args)


def injected(**init_args) -> dict:
    return entry(LIT + "InjectedModel", backbone=mlp(), **init_args)


REFUSED = [
    (
        "misspelled nested key",
        backbone_model(mlp(hiden_dim=8)),
        "model.init_args.backbone.init_args.hiden_dim",
        "hiden_dim",
    ),
    (
        "misspelled key at depth 3",
        backbone_model(entry(NETS + "Residual", inner=entry(NETS + "Residual", inner=mlp(hiden_dim=3)))),
        "model.init_args.backbone.init_args.inner.init_args.inner.init_args.hiden_dim",
        "hiden_dim",
    ),
    (
        "missing nested class",
        backbone_model({"class_path": NETS + "NoSuchNet"}),
        "model.init_args.backbone.class_path",
        "NoSuchNet",
    ),
    (
        "nested class of the wrong base",
        entry(LIT + "HeadModel", backbone=mlp(), head={"class_path": NETS + "MLP"}),
        "model.init_args.head.class_path",
        "subclass of Head",
    ),
    (
        "wrong type, nested",
        backbone_model(mlp(hidden_dim="wide")),
        "model.init_args.backbone.init_args.hidden_dim",
        "wide",
    ),
    ("wrong type", backbone_model(mlp(), lr="fast"), "model.init_args.lr", "fast"),
    (
        "missing required nested argument",
        backbone_model({"class_path": NETS + "Residual"}),
        "model.init_args.backbone.init_args.inner",
        "inner",
    ),
    (
        "misspelled optimizer argument",
        injected(optimizer=entry("torch.optim.SGD", lrr=0.1)),
        "model.init_args.optimizer.init_args.lrr",
        "lrr",
    ),
    (
        "missing optimizer class",
        injected(optimizer={"class_path": "torch.optim.NoSuchOpt"}),
        "model.init_args.optimizer.class_path",
        "NoSuchOpt",
    ),
    (
        "wrong type, scheduler argument",
        injected(scheduler=entry("torch.optim.lr_scheduler.StepLR", step_size="often")),
        "model.init_args.scheduler.init_args.step_size",
        "often",
    ),
    (
        "misspelled key, pytorch_lightning",
        entry(PL + "PLInjectedModel", backbone=mlp(hiden_dim=8)),
        "model.init_args.backbone.init_args.hiden_dim",
        "hiden_dim",
    ),
]


@pytest.mark.parametrize("config, key_path, detail", [pytest.param(*r[1:], id=r[0]) for r in REFUSED])
def test_a_config_lightning_cli_refuses_is_a_user_error_naming_its_key_path(config, key_path, detail):
    dist = "pytorch_lightning" if config["class_path"].startswith(PL) else "lightning.pytorch"
    with pytest.raises(ArgumentError):  # LightningCLI refuses it too
        lightning_cli(Case("", config, {}, dist=dist))
    with pytest.raises(UserError) as caught:
        build_section(normalize_sections({"model": copy.deepcopy(config)})["model"], "model")
    message = str(caught.value)
    assert message.startswith(f"{key_path}: LightningCLI refuses this config"), message
    assert detail in message


@pytest.mark.xfail(
    strict=True,
    reason="jsonargparse's message names the list or dict argument, not which item: "
    "tuning.sweep.build.cli_error gives model.init_args.layers.init_args.hiden_dim",
)
@pytest.mark.parametrize(
    "container, key_path",
    [
        (
            {"layers": [{"class_path": "torch.nn.ReLU"}, mlp(hiden_dim=3)]},
            "model.init_args.layers.1.init_args.hiden_dim",
        ),
        (
            {"sizes": {"hidden": 6}, "heads": {"main": mlp(hiden_dim=3)}},
            "model.init_args.heads.main.init_args.hiden_dim",
        ),
    ],
    ids=["list item", "dict value"],
)
def test_a_refused_item_of_a_list_or_dict_is_named_with_its_index(container, key_path):
    model = "ListModel" if "layers" in container else "DictModel"
    with pytest.raises(UserError, match=rf"^{key_path}: "):
        build_section({"class_path": LIT + model, "init_args": container}, "model")


@pytest.mark.parametrize(
    "arguments, key_path",
    [
        ({"lrr": 0.1}, "model.lrr"),
        ({"lr": "fast"}, "model.lr"),
        ({"backbone": mlp(hiden_dim=2)}, "model.backbone.init_args.hiden_dim"),
    ],
)
def test_a_fixed_class_refusal_names_the_key_as_written(arguments, key_path):
    config = {"backbone": mlp(), **arguments}
    with pytest.raises(ArgumentError):
        lightning_cli(Case("", config, {}, fixed=LIT + "BackboneModel"))
    with pytest.raises(UserError, match=rf"^{key_path}: LightningCLI refuses"):
        build_section(normalize_sections({"model": {"class_path": LIT + "BackboneModel", **config}})["model"], "model")


def test_a_top_level_class_by_its_bare_name_is_refused_clearly():
    """LightningCLI resolves `class_path: BackboneModel` among the subclasses its main script imported; a sweep
    has no main script, so the section's own class needs its dotted path (nested ones resolve as LightningCLI's)."""
    with pytest.raises(UserError, match=r"^model.class_path: 'BackboneModel' is not a registered model"):
        build_section({"class_path": "BackboneModel", "init_args": {"backbone": mlp()}}, "model")


# --- Hydra ------------------------------------------------------------------------------------------------


HYDRA_NODES = [
    pytest.param(
        {
            "_target_": HYDRA + "HydraLitModule",
            "net": {"_target_": NETS + "MLP", "hidden_dim": 24},
            "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.002, "weight_decay": 0.1},
            "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True, "step_size": 2},
            "compile": False,
        },
        {
            "shapes.net.net.0.weight": (24, 8),
            "hparams.optimizer.class": "torch.optim.adam.Adam",
            "hparams.optimizer.partial": True,
            "hparams.optimizer.lr": 0.002,
            "hparams.optimizer.weight_decay": 0.1,
            "hparams.scheduler.step_size": 2,
            "hparams.compile": False,
        },
        id="nested _target_ and _partial_ optimizer (the template's module)",
    ),
    pytest.param(
        {
            "_target_": HYDRA + "HydraLitModule",
            "_args_": [
                {
                    "_target_": "torch.nn.Sequential",
                    "_args_": [
                        {"_target_": "torch.nn.Linear", "_args_": [8, 6]},
                        {"_target_": "torch.nn.GELU"},
                        {"_target_": "torch.nn.Linear", "in_features": 6, "out_features": 4},
                    ],
                }
            ],
            "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
        },
        {
            "shapes.net.0.weight": (6, 8),
            "modules.net.1": "torch.nn.modules.activation.GELU",
            "params": 8 * 6 + 6 + 6 * 4 + 4,
        },
        id="_args_ at every level",
    ),
    pytest.param(
        {
            "_target_": HYDRA + "SelfBuildingModule",
            "_recursive_": False,
            "lr": 0.3,
            "net": {"_target_": NETS + "Residual", "inner": {"_target_": NETS + "MLP", "hidden_dim": 5}},
        },
        {
            "values.net_config.omegaconf": "DictConfig",
            "values.net_config.value.inner.hidden_dim": 5,
            "modules.net": NETS + "Residual",
            "shapes.net.inner.net.0.weight": (5, 8),
            "values.lr": 0.3,
        },
        id="_recursive_ false: the module builds its node itself",
    ),
    pytest.param(
        {
            "_target_": HYDRA + "ContainerModule",
            "_convert_": "all",
            "sizes": {"hidden": 6},
            "layers": [{"_target_": "torch.nn.Linear", "in_features": 8, "out_features": 4}],
        },
        {"values.sizes": {"hidden": 6}, "values.layer_list.0.module": "torch.nn.modules.linear.Linear"},
        id="_convert_ all: plain containers",
    ),
    pytest.param(
        {
            "_target_": HYDRA + "ContainerModule",
            "sizes": {"hidden": 6},
            "layers": [{"_target_": "torch.nn.Linear", "in_features": 8, "out_features": 4}],
        },
        {"values.sizes": {"omegaconf": "DictConfig", "value": {"hidden": 6}}},
        id="_convert_ none (the default): OmegaConf containers",
    ),
    pytest.param(
        {
            "_target_": HYDRA + "ContainerModule",
            "_convert_": "partial",
            "sizes": {"hidden": 6},
            "layers": [{"_target_": "torch.nn.Linear", "_convert_": "object", "in_features": 8, "out_features": 4}],
        },
        {"values.sizes": {"hidden": 6}},
        id="_convert_ partial, and per node",
    ),
    pytest.param(
        {
            "_target_": HYDRA + "HydraLitModule",
            "net": {"_target_": NETS + "MLP", "hidden_dim": 6, "out_dim": "${.hidden_dim}", "num_layers": 1},
        },
        {"shapes.net.net.2.weight": (6, 6)},
        id="interpolation inside the node",
    ),
    pytest.param(
        {"_target_": HYDRA + "HydraData", "batch_size": 8, "transform": {"_target_": NETS + "Noise", "std": 0.2}},
        {"values.batch_size": 8, "values.transform.std": 0.2, "hparams.batch_size": 8},
        id="data module",
    ),
]


@pytest.mark.parametrize("node, expect", HYDRA_NODES)
def test_builds_what_hydra_instantiate_builds(node, expect):
    from hydra.utils import instantiate

    section = "data" if node["_target_"].endswith("Data") else "model"
    spec = normalize_sections({section: copy.deepcopy(node)})[section]
    assert spec["cli_form"] == "hydra"
    ours, theirs = build_section(spec, section), instantiate(copy.deepcopy(node))
    assert_means(theirs, expect)
    assert_means(ours, expect)
    assert summary(ours) == summary(theirs)
    assert type(ours) is type(theirs)


@pytest.mark.parametrize(
    "net, detail",
    [
        pytest.param({"_target_": NETS + "NoSuchNet"}, "NoSuchNet", id="nested target that does not exist"),
        pytest.param({"_target_": NETS + "MLP", "hiden_dim": 3}, "hiden_dim", id="misspelled nested argument"),
        pytest.param(
            {"_target_": NETS + "MLP", "hidden_dim": "???"}, "net.hidden_dim", id="mandatory value left missing"
        ),
        pytest.param(
            {"_target_": NETS + "MLP", "hidden_dim": "${data.hidden}"},
            "data.hidden",
            id="interpolation outside the section",
        ),
    ],
)
def test_a_node_hydra_refuses_is_a_user_error_naming_the_section(net, detail):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf.errors import OmegaConfBaseException

    node = {"_target_": HYDRA + "HydraLitModule", "net": net}
    with pytest.raises((InstantiationException, OmegaConfBaseException)):  # hydra.utils.instantiate refuses it too
        instantiate(copy.deepcopy(node))
    with pytest.raises(UserError) as caught:
        build_section(normalize_sections({"model": copy.deepcopy(node)})["model"], "model")
    message = str(caught.value)
    assert message.startswith("model: hydra.utils.instantiate refuses it"), message
    assert detail in message


# --- checkpoints ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(
            injected(
                optimizer=entry("torch.optim.SGD", lr=0.3),
                scheduler=entry("torch.optim.lr_scheduler.StepLR", step_size=4),
            ),
            id="lightning.pytorch, injected optimizer and scheduler",
        ),
        pytest.param(backbone_model(DEPTH_3, lr=0.2), id="lightning.pytorch, nested at depth 3"),
        pytest.param(
            entry(
                PL + "PLInjectedModel",
                backbone=mlp(hidden_dim=6, num_layers=2),
                optimizer=entry("torch.optim.Adam", lr=0.05),
            ),
            id="pytorch_lightning, injected optimizer",
        ),
    ],
)
def test_a_built_module_trained_and_saved_loads_back_with_its_own_class(config, tmp_path):
    """Lightning rebuilds the nested classes from the config saved in the checkpoint (LightningCLI's
    instantiator put it in hparams), so `MyModule.load_from_checkpoint(path)` needs no arguments."""
    model = build_section(normalize_sections({"model": copy.deepcopy(config)})["model"], "model")
    dist = "pytorch_lightning" if config["class_path"].startswith(PL) else "lightning.pytorch"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = importlib.import_module(dist).Trainer(max_steps=1, default_root_dir=tmp_path, **TRAINER)
    trainer.fit(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())  # the step trained it

    loaded = load(config["class_path"]).load_from_checkpoint(tmp_path / "model.ckpt")
    assert type(loaded) is type(model)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    # nested classes, sizes, the callables' optimizer and scheduler; hparams aside: a module rebuilt by
    # load_from_checkpoint holds the objects it was given there (Lightning's instantiate_module), not the config
    assert {**summary(loaded), "hparams": None} == {**summary(model), "hparams": None}
    saved = torch.load(tmp_path / "model.ckpt", weights_only=False)["hyper_parameters"]
    assert saved == dict(model.hparams) and saved["_class_path"] == config["class_path"]

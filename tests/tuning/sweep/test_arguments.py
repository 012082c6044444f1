"""Arguments at every depth (tuning.sweep.arguments, tuning.sweep.classes): nested class_path entries and Hydra nodes
checked by `tuning validate` from source, without importing torch; both spellings of a key; model-only sweeps."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from tuning.errors import UserError
from tuning.sweep.arguments import type_problem
from tuning.sweep.config import load_sweep
from tuning.sweep.space import canonical_parts, set_path

PROJECT = {
    "proj/__init__.py": "",
    "proj/nets.py": """
        from torch import nn


        class MLP(nn.Module):
            def __init__(self, in_dim: int = 8, hidden_dim: int = 16, out_dim: int = 2, act: str | None = "relu"):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))
    """,
    "proj/lit.py": """
        import lightning as L
        import torch
        from lightning.pytorch.cli import OptimizerCallable
        from torch import nn


        class Classifier(L.LightningModule):
            def __init__(self, net: nn.Module, optimizer: OptimizerCallable = torch.optim.Adam, batch_size: int = 32):
                super().__init__()
                self.net, self.optimizer = net, optimizer


        class OwnLoaders(Classifier):
            def train_dataloader(self):
                return []
    """,
}

LIGHTNING_CLI = {
    "model": {
        "class_path": "proj.lit.Classifier",
        "init_args": {
            "net": {"class_path": "proj.nets.MLP", "init_args": {"hidden_dim": 16}},
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1.0e-3}},
        },
    },
    "data": {"class_path": "digits"},
    "trainer": {"max_epochs": 2},
    "search": {"space": {"model.init_args.net.init_args.hidden_dim": {"choice": [8, 32]}}},
}
HYDRA = {
    "model": {
        "_target_": "proj.lit.Classifier",
        "net": {"_target_": "proj.nets.MLP", "hidden_dim": 16},
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1.0e-3},
    },
    "data": {"class_path": "digits"},
    "trainer": {"max_epochs": 2},
    "search": {"space": {"model.net.hidden_dim": {"choice": [8, 32]}}},
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name, text in PROJECT.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def validate(path, *sets) -> tuple[int, str, list[str]]:
    """`tuning validate` in a fresh interpreter: (exit code, stderr, the heavy libraries it imported)."""
    code = (
        "import sys, json\nfrom tuning.cli import main\ntry:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n"
        "    rc = e.code\nprint('RESULT=' + json.dumps([rc, sorted(m for m in ('torch', 'lightning') "
        "if m in sys.modules)]))"
    )
    args = ["validate", str(path)] + [a for s in sets for a in ("--set", s)]
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    rc, imported = json.loads(result.stdout.rpartition("RESULT=")[2])
    return rc, result.stderr, imported


@pytest.mark.parametrize(
    "form, sets, message",
    [
        (
            LIGHTNING_CLI,
            ["model.init_args.net.init_args.hiden_dim=3"],
            "model.init_args.net.init_args.hiden_dim: MLP has no argument 'hiden_dim' (did you mean 'hidden_dim'?)",
        ),
        (
            LIGHTNING_CLI,
            ["model.net.class_path=proj.nets.MPL"],
            "model.init_args.net.class_path: module 'proj.nets' has no class 'MPL' (did you mean 'MLP'?)",
        ),
        (LIGHTNING_CLI, ["model.net.in_dim=wide"], "model.init_args.net.init_args.in_dim: expects int, got 'wide'"),
        (
            LIGHTNING_CLI,
            ["search.space.model.net.out_dim={uniform: [2, 9]}"],
            "search.space.model.net.out_dim: uniform gives 2.0 but model.init_args.net.init_args.out_dim expects int",
        ),
        (HYDRA, ["model.net.hiden_dim=3"], "model.net.hiden_dim: MLP has no argument 'hiden_dim'"),
        (HYDRA, ["model.net._target_=proj.nets.MPL"], "model.net._target_: module 'proj.nets' has no class 'MPL'"),
        (HYDRA, ["model.net.act=3"], "model.net.act: expects str | None, got 3"),
        (HYDRA, ["model.optimizer._partial_=false"], "model.optimizer: Adam needs argument 'params'"),
    ],
)
def test_validate_finds_nested_problems_without_importing_torch(project, form, sets, message):
    path = project / "sweep.yaml"
    path.write_text(yaml.safe_dump(form))
    assert validate(path)[0] == 0
    rc, err, imported = validate(path, *sets)
    assert rc == 2 and message in err, err
    assert imported == [], f"validate imported {imported}"
    assert "Traceback" not in err


def test_a_callable_typed_argument_needs_no_required_arguments_but_a_class_typed_one_does(project):
    path = project / "sweep.yaml"
    path.write_text(yaml.safe_dump({**LIGHTNING_CLI, "search": {}}))
    rc, err, _ = validate(path, "model.net={class_path: torch.optim.SGD}")
    assert rc == 2 and "model.init_args.net.init_args: SGD needs argument 'params'" in err, err
    assert validate(path, "model.optimizer.class_path=torch.optim.SGD")[0] == 0  # params comes later


def test_both_spellings_reach_one_argument_in_set_and_space_keys(project):
    printed = {
        "model": {"class_path": "proj.lit.Classifier", "net": {"class_path": "proj.nets.MLP"}, "batch_size": 8},
        "data": {"class_path": "digits"},
        "trainer": {"max_epochs": 2},
    }  # LightningCLI's printed, fixed form
    path = project / "printed.yaml"
    path.write_text(yaml.safe_dump(printed))
    for key in ("model.init_args.batch_size", "model.batch_size"):
        cfg = load_sweep(str(path), [f"{key}=64"])
        assert cfg.model.init_args["batch_size"] == 64 and cfg.model.cli_form == "fixed"
    cfg = load_sweep(str(path), ["model.net.hidden_dim=5"])
    assert cfg.model.init_args["net"] == {"class_path": "proj.nets.MLP", "init_args": {"hidden_dim": 5}}
    twice = ["search.space.model.batch_size={choice: [1, 2]}", "search.space.model.init_args.batch_size={choice: [3]}"]
    rc, err, _ = validate(path, *twice)
    assert rc == 2 and "the same argument as" in err, err


def test_a_module_without_data_needs_its_own_dataloaders(project):
    sweep = {k: v for k, v in LIGHTNING_CLI.items() if k != "data"}
    path = project / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    rc, err, _ = validate(path)
    assert rc == 2 and "data: required key is missing; proj.lit.Classifier has no train_dataloader" in err, err
    assert validate(path, "model.class_path=proj.lit.OwnLoaders")[0] == 0
    rc, err, _ = validate(
        path, "model.class_path=proj.lit.OwnLoaders", "search.space.data.init_args.batch_size={choice: [8, 16]}"
    )
    assert rc == 2 and "search.space.data.init_args.batch_size: the sweep has no data section to search in" in err


def test_set_path_and_canonical_parts_step_into_init_args_and_lists():
    tree = {"model": {"class_path": "a.B", "init_args": {"layers": [{"class_path": "a.C"}], "d": {"k": 1}}}}
    set_path(tree, "model.layers.0.width", 3)
    set_path(tree, "model.d.k", 2)
    assert tree["model"]["init_args"] == {"layers": [{"class_path": "a.C", "init_args": {"width": 3}}], "d": {"k": 2}}
    assert canonical_parts(tree, "model.layers.0.width") == ["model", "init_args", "layers", "0", "init_args", "width"]
    with pytest.raises(ValueError, match="'model.init_args.d.k' is not a mapping"):
        set_path(tree, "model.d.k.x", 1)


@pytest.mark.parametrize(
    "annotation, value, fits",
    [
        ("int", 3, True),
        ("int", 3.0, False),
        ("int", True, False),
        ("float", 3, True),
        ("Optional[int]", None, True),
        ("int | None", "x", False),
        ("Literal['a', 'b']", "c", False),
        ("list[int]", [1], True),
        ("dict", [1], False),
        ("nn.Module", "x", True),
        ("Union[int, SomeClass]", "x", True),
        ("'int'", "x", False),
        ("Any", object(), True),
    ],
)
def test_type_problem_knows_plain_types_and_leaves_the_rest(annotation, value, fits):
    assert (type_problem(annotation, value) is None) is fits


def test_a_hydra_section_without_hydra_names_the_extra(project, monkeypatch):
    from tuning.sweep.build import build_section

    for name in ("hydra", "hydra.utils", "hydra.errors"):  # as if hydra-core were not installed
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(UserError, match=r"model._target_: .*pip install 'tuning\[hydra\]'"):
        build_section({"class_path": "proj.lit.Classifier", "init_args": {}, "cli_form": "hydra"}, "model")


def test_validate_refuses_a_class_made_inside_a_function_as_run_would(tmp_path, monkeypatch):
    """`Model = make()` passes Python's import but not LightningCLI's, so every trial would fail to build it."""
    from tuning.sweep.classes import check_classes

    (tmp_path / "made.py").write_text(
        textwrap.dedent("""
            import lightning as L


            def make():
                class Model(L.LightningModule):
                    def __init__(self, lr: float = 0.01):
                        super().__init__()

                return Model


            Model = make()
        """)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"model": {"class_path": "made.Model"}, "trainer": {"max_epochs": 1}}))
    with pytest.raises(UserError) as refused:
        check_classes(load_sweep(str(path), []), static=True)
    assert "model.class_path: 'made.Model' is a class defined inside a function (make.<locals>.Model)" in str(
        refused.value
    )

"""Searchers, samplers and schedulers are each one registry entry: the schema takes its names from there, and the rest
of tuning asks an entry's capabilities, never compares its name."""

import ast
import dataclasses
import re
from pathlib import Path
from typing import get_args

import pytest
import yaml

from tests.imports import fresh_imports
from tests.tuning.sweep.test_bad_input import validate
from tuning.errors import UserError
from tuning.report.formats import FORMATS
from tuning.search.schedulers import SCHEDULER_NAMES, SCHEDULERS
from tuning.search.searchers import SAMPLER_NAMES, SAMPLERS, SEARCHER_NAMES, SEARCHERS
from tuning.sweep.config import SCHEDULER_SPECS, SearcherSpec, builtin_sweeps, load_sweep, parse_sweep

PACKAGE = Path(__file__).resolve().parents[3] / "tuning"


def test_the_schema_takes_the_registries_names_and_no_other():
    assert get_args(SearcherSpec.model_fields["name"].annotation) == SEARCHER_NAMES == tuple(SEARCHERS)
    assert get_args(SearcherSpec.model_fields["sampler"].annotation) == SAMPLER_NAMES == tuple(SAMPLERS)
    # one settings model per scheduler, in the registry's order, each taking its own name alone
    assert [get_args(spec.model_fields["name"].annotation) for spec in SCHEDULER_SPECS] == [
        (name,) for name in SCHEDULERS
    ] and SCHEDULER_NAMES == tuple(SCHEDULERS)


@pytest.mark.parametrize(
    "registry", [SEARCHERS, SAMPLERS, SCHEDULERS, FORMATS], ids=["searchers", "samplers", "schedulers", "formats"]
)
def test_every_entry_is_one_frozen_record_of_one_kind(registry):
    kinds = {type(entry) for entry in registry.values()}
    assert len(kinds) == 1 and dataclasses.is_dataclass(kinds.pop())
    entry = next(iter(registry.values()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(entry, dataclasses.fields(entry)[0].name, None)


def test_the_registries_and_the_schema_import_neither_ray_nor_optuna_nor_torch():
    _, err, imported = fresh_imports(
        "import tuning.search.searchers, tuning.search.schedulers, tuning.sweep.config, "
        "tuning.sweep.combinations, tuning.report.formats",
        ("ray", "optuna", "torch", "lightning", "pytorch_lightning"),
    )
    assert imported == [], err


def _synthetic(**search) -> dict:
    sweep = yaml.safe_load(builtin_sweeps()["synthetic"].read_text())
    sweep["search"].update(search)
    return sweep


def _refusal(sweep: dict) -> str:
    with pytest.raises(UserError) as info:
        parse_sweep(sweep)
    return str(info.value)


def test_a_scheduler_that_needs_checkpoints_is_refused_for_a_synthetic_objective(monkeypatch):
    sweep = _synthetic(scheduler={"name": "fifo"})
    parse_sweep(sweep)
    monkeypatch.setitem(SCHEDULERS, "fifo", dataclasses.replace(SCHEDULERS["fifo"], needs_checkpoints=True))
    message = _refusal(sweep)
    assert "search.scheduler: fifo restarts trials from checkpoints, which a synthetic objective" in message
    offered = message.rsplit("; use ", 1)[1].replace(" or ", ", ").split(", ")
    assert "asha" in offered and not {"fifo", "hyperband", "pbt"} & set(offered), "offered from the registry"


def test_a_scheduler_that_needs_a_budget_asks_for_one(monkeypatch, tiny_sweep):
    del tiny_sweep["trainer"]["max_epochs"]
    tiny_sweep["search"]["scheduler"] = {"name": "median"}
    parse_sweep(tiny_sweep)
    monkeypatch.setitem(SCHEDULERS, "median", dataclasses.replace(SCHEDULERS["median"], needs_budget=True))
    assert "search.scheduler: median needs an epoch budget" in _refusal(tiny_sweep)


def test_what_a_searcher_can_do_decides_what_it_is_given(monkeypatch):
    grid = _synthetic(searcher={"name": "random"})
    grid["search"]["space"]["objective.x0"] = {"grid": [0.0, 5.0]}
    parse_sweep(grid)
    monkeypatch.setitem(SEARCHERS, "random", dataclasses.replace(SEARCHERS["random"], accepts_grid=False))
    message = _refusal(grid)
    assert "search.space.objective.x0: grid works with searcher " in message and "random or" not in message
    assert "not random; use choice with random, or set search.searcher.name: grid" in message
    warm = _synthetic(searcher={"name": "random"}, warm_start=["runs/earlier"])
    assert "search.warm_start: needs searcher optuna (a random searcher does not learn" in _refusal(warm)
    monkeypatch.setitem(SEARCHERS, "random", dataclasses.replace(SEARCHERS["random"], learns_from_results=True))
    assert parse_sweep(warm).search.warm_start == ["runs/earlier"]


def test_a_sampler_for_one_objective_is_refused_with_several(monkeypatch):
    two = ["search.metric=[val_loss, val_acc]", "search.mode=[min, max]", "search.scheduler.metric=val_acc"]
    load_sweep("quickstart", [*two, "search.searcher.sampler=gp"])
    monkeypatch.setitem(SAMPLERS, "gp", dataclasses.replace(SAMPLERS["gp"], multi_objective=False))
    with pytest.raises(UserError, match="search.searcher.sampler: gp optimizes one objective; with several") as info:
        load_sweep("quickstart", [*two, "search.searcher.sampler=gp"])
    offered = str(info.value).rsplit("several use ", 1)[1].replace(" or ", ", ").split(", ")
    assert {"tpe", "nsga2"} <= set(offered) and not {"gp", "cmaes"} & set(offered), "offered from the registry"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["search.scheduler.perturbation_interval=3"],
            "search.scheduler.perturbation_interval: not a field of asha "
            "(fields: grace_period, reduction_factor, max_t, metric)",
        ),
        (["search.scheduler.name=fifo"], "search.scheduler.grace_period: not a field of fifo (fields: max_t, metric)"),
        (
            ["search.scheduler={name: pbt, grace_period: 2}"],
            "search.scheduler.grace_period: not a field of pbt (fields: perturbation_interval, quantile_fraction, "
            "resample_probability, mutations, max_t, metric)",
        ),
        (
            ["search.scheduler.grace_perod=3"],
            "search.scheduler.grace_perod: unknown key (did you mean 'grace_period'?)",
        ),
        (["search.scheduler={name: ashaa}"], "search.scheduler.name: unknown scheduler 'ashaa' (did you mean 'asha'?)"),
    ],
)
def test_a_scheduler_section_refuses_another_scheduler_s_settings_naming_the_key(overrides, message):
    code, err = validate("quickstart", *[a for o in overrides for a in ("--set", o)])
    assert code == 2 and message in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "scheduler", ["{name: fifo}", "{name: pbt, perturbation_interval: 3}", "{}", "{grace_period: 2}"]
)
def test_a_scheduler_section_with_its_own_settings_works(scheduler):
    code, err = validate("quickstart", "--set", f"search.scheduler={scheduler}", "--set", "search.searcher.name=random")
    assert code == 0, err


# A search-space domain's kind (`domain.kind`, `kind`, a sweep.yaml entry's `spec`) or an HTTP answer's content kind
# is compared with "grid" or "html" for what it is, not as a searcher's or a format's name.
NOT_A_NAME = re.compile(r"^(\w+\.)*(kind|spec)$")


def _compared_names(path: Path, names: set, root: Path = PACKAGE.parent) -> list[str]:
    """`file:line: code` of each comparison (==, !=, in, not in, a match case) of a string that is a registry name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.MatchValue):
            operands = [node.value]
        else:
            continue
        strings = {
            c.value for o in operands for c in ast.walk(o) if isinstance(c, ast.Constant) and isinstance(c.value, str)
        }
        others = [ast.unparse(o) for o in operands if not isinstance(o, (ast.Constant, ast.Tuple, ast.List, ast.Set))]
        if strings & names and not (others and all(NOT_A_NAME.match(o) for o in others)):
            found.append((node.lineno, f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}"))
    return [hit for _, hit in sorted(found)]


def test_no_module_compares_a_searcher_sampler_scheduler_or_format_name():
    names = set(SEARCHERS) | set(SAMPLERS) | set(SCHEDULERS) | set(FORMATS)
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _compared_names(path, names)]
    assert found == [], "ask the registry entry's capability instead:\n" + "\n".join(found)


def test_a_compared_name_would_be_found(tmp_path):
    code = tmp_path / "tuning" / "probe.py"
    code.parent.mkdir()
    code.write_text(
        "if cfg.search.scheduler.name in ('hyperband', 'pbt'):\n    pass\nok = domain.kind == 'grid'\n"
        "match fmt:\n    case 'csv':\n        pass\n"
    )
    found = _compared_names(code, {"hyperband", "grid", "csv"}, root=tmp_path)
    assert [hit.split(": ", 1)[0] for hit in found] == ["tuning/probe.py:1", "tuning/probe.py:5"]

"""Conditional choices: parsed and checked by their full path, sampled only in the chosen branch, grids that
expand every branch. The searchers are the real ones, asked for configs directly (no sweep runs here; the
sweeps are in tests/tuning/driver/test_search.py)."""

import copy

import pytest

from tests.conftest import TINY_SWEEP
from tuning.errors import UserError
from tuning.search.searchers import make_searcher
from tuning.sweep.classes import check_classes
from tuning.sweep.config import parse_sweep
from tuning.sweep.space import active, grid_size

LR, LAYERS, DROPOUT, HIDDEN, DECAY = (
    f"model.init_args.{k}" for k in ("lr", "num_layers", "dropout", "hidden_dim", "weight_decay")
)
# Two levels: 3 layers bring dropout and a weight-decay choice, whose 0.01 brings hidden_dim.
SPACE = {
    LR: {"loguniform": [1.0e-3, 3.0e-2]},
    LAYERS: {
        "choice": {
            1: {},
            2: {DROPOUT: {"uniform": [0.0, 0.2]}, HIDDEN: {"choice": [8, 16]}},
            3: {DROPOUT: {"uniform": [0.3, 0.5]}, DECAY: {"choice": {0.0: None, 0.01: {HIDDEN: {"choice": [8, 16]}}}}},
        }
    },
}


def sweep(space=SPACE, **search) -> dict:
    data = copy.deepcopy(TINY_SWEEP)
    data["search"].update(space=copy.deepcopy(space), **search)
    return data


def expected_keys(config: dict) -> set:
    """The keys the branches a config chose sample, written out by hand from SPACE."""
    keys = {LR, LAYERS}
    if config[LAYERS] == 2:
        keys |= {DROPOUT, HIDDEN}
    if config[LAYERS] == 3:
        keys |= {DROPOUT, DECAY} | ({HIDDEN} if config.get(DECAY) == 0.01 else set())
    return keys


def respects_its_branch(config: dict) -> bool:
    """Only the chosen branches' keys, each value inside the domain of the branch it came from."""
    dropout = {1: None, 2: (0.0, 0.2), 3: (0.3, 0.5)}[config[LAYERS]]
    return (
        set(config) == expected_keys(config)
        and 1.0e-3 <= config[LR] <= 3.0e-2
        and (dropout is None or dropout[0] <= config[DROPOUT] <= dropout[1])
        and config.get(HIDDEN, 8) in (8, 16)
        and config.get(DECAY, 0.0) in (0.0, 0.01)
    )


@pytest.mark.parametrize("searcher", ["optuna", "random"])
def test_every_config_holds_its_chosen_branches_keys_only(searcher):
    import optuna

    cfg = parse_sweep(sweep(searcher={"name": searcher, "seed": 0}, num_samples=40))
    storage = optuna.storages.InMemoryStorage()
    search = make_searcher(cfg.search, 0, storage=storage)
    configs = []
    for i in range(40):
        configs.append(search.suggest(f"t{i}"))
        search.on_trial_complete(
            f"t{i}",
            {"val_loss": configs[-1][LR], "training_iteration": 2, "config": configs[-1], "ended_by": "trainer"},
        )
    bad = [c for c in configs if not respects_its_branch(c)]
    assert not bad, bad
    assert {c[LAYERS] for c in configs} == {1, 2, 3} and any(HIDDEN in c and c[LAYERS] == 3 for c in configs)
    if searcher == "optuna":  # the study records the same keys, each with its branch's distribution
        trials = optuna.load_study(study_name="tuning", storage=storage).get_trials(deepcopy=False)
        assert [t.params for t in trials] == configs
        assert all(
            t.distributions[DROPOUT].low == (0.0 if t.params[LAYERS] == 2 else 0.3)
            for t in trials
            if DROPOUT in t.params
        )


def test_grid_expands_every_branch_and_points_come_first():
    space = {
        LR: {"choice": [0.01, 0.02]},
        LAYERS: {
            "choice": {
                1: None,
                2: {
                    DROPOUT: {"grid": [0.0, 0.5]},
                    HIDDEN: {"choice": {8: None, 16: {DECAY: {"choice": [0.0, 0.1, 0.2]}}}},
                },
            }
        },
    }
    point = {LR: 0.01, LAYERS: 2, DROPOUT: 0.5, HIDDEN: 8}
    cfg = parse_sweep(sweep(space, searcher={"name": "grid", "points_to_evaluate": [point]}, num_samples=2))
    per_pass = 2 * (1 + 2 * (1 + 3))  # lr x (layers 1, or layers 2: dropout x (hidden 8, or hidden 16 x decay))
    assert grid_size(cfg.search.space, as_grid=True) == per_pass
    search = make_searcher(cfg.search, 0)
    configs = []
    while (config := search.suggest(f"t{len(configs)}")) != "FINISHED":
        configs.append(config)
    assert len(configs) == 2 * per_pass and configs[0] == point
    assert len({tuple(sorted(c.items())) for c in configs}) == per_pass  # every grid point, no other
    assert all(set(c) == set(active(cfg.search.space, c)) for c in configs)


@pytest.mark.parametrize(
    "branch,message",
    [
        (
            {"model.init_args.dropout": {"uniform": [0.5, 0.1]}},
            "choice.2.model.init_args.dropout: uniform needs low < high",
        ),
        (
            {"modle.init_args.dropout": {"uniform": [0.1, 0.5]}},
            "choice.2.modle.init_args.dropout: key 'modle.init_args",
        ),
        (
            {LR: {"uniform": [0.1, 0.5]}},
            "choice.2.model.init_args.lr: already searched at search.space.model.init_args.lr",
        ),
        (
            {HIDDEN: {"uniform": [8, 16]}},
            "choice.2.model.init_args.hidden_dim: uniform here but choice [8, 16] at "
            "search.space.model.init_args.num_layers.choice.1.model.init_args.hidden_dim",
        ),
    ],
)
def test_a_bad_entry_inside_a_branch_is_named_by_its_full_path(branch, message):
    space = {LR: SPACE[LR], LAYERS: {"choice": {1: {HIDDEN: {"choice": [8, 16]}}, 2: branch}}}
    with pytest.raises(UserError) as raised:
        parse_sweep(sweep(space))
    assert f"search.space.model.init_args.num_layers.{message}" in str(raised.value)


def test_a_branch_key_is_checked_against_the_class_signature_by_its_full_path():
    space = {LAYERS: {"choice": {1: {}, 2: {"model.init_args.momentum": {"uniform": [0.0, 0.9]}}}}}
    with pytest.raises(UserError) as raised:
        check_classes(parse_sweep(sweep(space)), static=True)
    assert str(raised.value).startswith(
        "search.space.model.init_args.num_layers.choice.2.model.init_args.momentum: "
        "MLPClassifier has no argument 'momentum'"
    )


def test_the_resolved_sweep_writes_the_branches_back_as_written():
    """sweep.yaml is read again by resume and report: the conditional entry must come back unchanged."""
    cfg = parse_sweep(sweep())
    again = parse_sweep(cfg.to_dict())
    assert again.search.space == cfg.search.space and cfg.to_dict()["search"]["space"][LAYERS]["choice"][1] == {}


def test_a_key_every_branch_samples_is_always_sampled_and_the_others_are_conditional():
    """The report ranks importance on the keys every trial has: the top level, and a key in every branch."""
    from tuning.sweep.space import always_sampled, conditional_keys

    cfg = parse_sweep(sweep())
    assert always_sampled(cfg.search.space) == {LR, LAYERS}
    both = {LAYERS: {"choice": {1: {DROPOUT: {"uniform": [0.0, 0.1]}}, 2: {DROPOUT: {"uniform": [0.2, 0.3]}}}}}
    assert always_sampled(parse_sweep(sweep(both)).search.space) == {LAYERS, DROPOUT}
    assert conditional_keys(SPACE) == [DROPOUT, HIDDEN, DECAY] and conditional_keys(both) == []

"""Space entries: parsing, conversion to Tune domains, and applying sampled values."""

import pytest
from ray import tune

from tuning.sweep.space import Domain, apply_params, parse_domain, to_param_space


@pytest.mark.parametrize(
    "spec, tune_type",
    [
        ({"choice": [1, 2]}, tune.search.sample.Categorical),
        ({"uniform": [0.0, 1.0]}, tune.search.sample.Float),
        ({"loguniform": [1e-4, 1e-1]}, tune.search.sample.Float),
        ({"randint": [1, 5]}, tune.search.sample.Integer),
        ({"quniform": [0.0, 1.0, 0.25]}, tune.search.sample.Float),
        ({"qloguniform": [1.0, 100.0, 1.0]}, tune.search.sample.Float),
    ],
)
def test_every_kind_becomes_a_tune_domain(spec, tune_type):
    domain = parse_domain(spec).to_tune()
    assert isinstance(domain, tune_type)
    samples = [domain.sample() for _ in range(50)]
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        assert set(samples) <= set(args)
    else:
        assert all(args[0] <= s <= args[1] for s in samples)
    if kind.startswith("q"):
        assert all(abs(s / args[2] - round(s / args[2])) < 1e-9 for s in samples)


def test_grid_becomes_a_grid_search():
    assert parse_domain({"grid": [1, 2, 3]}).to_tune() == {"grid_search": [1, 2, 3]}


def test_log_domains_are_log_scaled():
    samples = [parse_domain({"loguniform": [1e-6, 1.0]}).to_tune().sample() for _ in range(400)]
    assert sum(s < 1e-3 for s in samples) > 100  # a uniform draw would put ~0.1% there


def test_param_space_keeps_dotted_keys():
    space = {"model.init_args.lr": Domain("loguniform", (1e-4, 1e-1)), "trainer.max_epochs": Domain("choice", (1, 2))}
    assert set(to_param_space(space)) == set(space)


def test_apply_params_sets_nested_values_without_touching_the_original():
    sections = {"model": {"class_path": "mlp", "init_args": {"lr": 0.1}}, "trainer": {"max_epochs": 3}}
    out = apply_params(
        sections, {"model.init_args.lr": 0.5, "model.init_args.opt.beta": 0.9, "trainer.gradient_clip_val": 1.0}
    )
    assert out["model"]["init_args"] == {"lr": 0.5, "opt": {"beta": 0.9}}
    assert out["trainer"] == {"max_epochs": 3, "gradient_clip_val": 1.0}
    assert sections["model"]["init_args"] == {"lr": 0.1}


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"loguniform": [0.0, 1.0]}, "low > 0"),
        ({"uniform": [1, 1]}, "low < high"),
        ({"choice": []}, "non-empty"),
        ({"quniform": [0, 1, 0]}, "q > 0"),
        ({"uniform": ["a", 1]}, "as numbers"),
        ([1, 2], "one key"),
        ({"uniform": [0, 1], "choice": [1]}, "one key"),
    ],
)
def test_bad_entries_say_what_is_allowed(spec, fragment):
    with pytest.raises(ValueError) as info:
        parse_domain(spec)
    assert fragment in str(info.value)


def test_conditional_choices_deeper_than_the_bound_are_refused_not_a_recursion_error():
    from tuning.errors import UserError
    from tuning.sweep.config import parse_sweep
    from tuning.sweep.space import MAX_DEPTH

    def nest(levels):
        space = {"model.init_args.lr": {"uniform": [0.1, 0.2]}}
        for i in range(levels):
            space = {f"model.init_args.k{i}": {"choice": {"a": space, "b": None}}}
        return space

    base = {
        "name": "deep",
        "model": {"class_path": "mlp"},
        "data": {"class_path": "digits"},
        "trainer": {"max_epochs": 1},
    }
    parse_sweep({**base, "search": {"space": nest(MAX_DEPTH)}})  # the bound itself is fine
    with pytest.raises(UserError, match=f"conditional choices nest at most {MAX_DEPTH} deep"):
        parse_sweep({**base, "search": {"space": nest(150)}})

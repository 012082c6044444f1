"""Non-dominated sorting and hypervolume (tuning.search.pareto): the rules the report, the progress lines and the
benchmark share."""

import math
import random

import pytest

from tuning.search.pareto import compared, dominates, hypervolume_2d, objectives, pareto_ranks


def test_fronts_are_peeled_one_after_another():
    points = [(1, 5), (2, 2), (5, 1), (3, 3), (4, 4), (6, 6), (2, 2)]
    assert pareto_ranks(points, ["min", "min"]) == [1, 1, 1, 2, 3, 4, 1], "equal points dominate neither"


def test_modes_turn_the_order_per_objective():
    points = [(0.1, 0.9), (0.2, 0.95), (0.3, 0.5), (0.05, 0.2)]  # val_loss (min), val_acc (max)
    assert pareto_ranks(points, ["min", "max"]) == [1, 1, 2, 1]
    assert pareto_ranks(points, ["max", "min"]) == [2, 2, 1, 1]


def test_a_point_without_a_finite_value_for_every_objective_has_no_rank():
    points = [(1.0, 2.0), None, (float("nan"), 0.0), (0.5, math.inf), (2.0, 1.0), (1.0,)]
    assert pareto_ranks(points, ["min", "min"]) == [1, None, None, None, 1, None]


@pytest.mark.parametrize("seed", range(5))
def test_ranks_agree_with_the_definition_on_random_points(seed):
    rng = random.Random(seed)
    modes = [rng.choice(["min", "max"]) for _ in range(3)]
    points = [tuple(rng.randint(0, 6) for _ in modes) for _ in range(40)]  # ties on purpose
    ranks = pareto_ranks(points, modes)
    for p, r in zip(points, ranks):
        dominating = [q for q, s in zip(points, ranks) if dominates(q, p, modes)]
        assert all(s < r for q, s in zip(points, ranks) if dominates(q, p, modes)), "no better point ranks after"
        assert (r == 1) == (not dominating)
        if r > 1:
            assert any(s == r - 1 for q, s in zip(points, ranks) if dominates(q, p, modes)), "one front above"


def test_hypervolume_of_a_staircase():
    assert hypervolume_2d([(1, 3), (2, 2), (3, 1), (3, 3)], ["min", "min"], (4, 4)) == 6.0
    assert hypervolume_2d([(1, 3), (5, 0)], ["min", "min"], (4, 4)) == 3.0, "beyond the reference: nothing"
    assert hypervolume_2d([(1, 3)], ["min", "max"], (4, 0)) == 9.0
    assert hypervolume_2d([], ["min", "min"], (1, 1)) == 0.0


def test_objectives_pair_up_names_and_modes_and_the_scheduler_compares_its_own():
    one = {"metric": "val_loss", "mode": "min", "scheduler": {"name": "asha"}}
    two = {
        "metric": ["val_loss", "val_acc"],
        "mode": ["min", "max"],
        "scheduler": {"name": "asha", "metric": "val_acc"},
    }
    assert objectives(one) == [("val_loss", "min")] and compared(one) == ("val_loss", "min")
    assert objectives(two) == [("val_loss", "min"), ("val_acc", "max")] and compared(two) == ("val_acc", "max")

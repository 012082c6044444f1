"""Several objectives in the sweep file: lists of metrics and modes, and what a scheduler needs (exit 2 otherwise)."""

import pytest

from tests.tuning.sweep.test_bad_input import validate
from tuning.sweep.config import load_sweep

TWO = ["--set", "search.metric=[val_loss, val_acc]", "--set", "search.mode=[min, max]"]

REFUSED = [  # (more overrides on the quickstart, its asha scheduler, with TWO unless said; text of the message)
    ([], "search.scheduler.metric: asha compares trials on one number, and this sweep has 2 objectives"),
    (["search.scheduler={name: hyperband}"], "search.scheduler.metric: hyperband compares trials on one number"),
    (["search.scheduler={name: median}"], "search.scheduler.metric: median compares trials on one number"),
    (
        ["search.scheduler.metric=val_acc", "search.mode=[min]"],
        "search.mode: search.metric names 2 metrics (val_loss, val_acc), so search.mode must be a list of 2",
    ),
    (["search.scheduler.metric=val_acc", "search.mode=max"], "search.mode: search.metric names 2 metrics"),
    (["search.scheduler.metric=train_loss"], "search.scheduler.metric: 'train_loss' is not one of search.metric"),
    (
        ["search.scheduler.metric=val_acc", "search.searcher.sampler=cmaes"],
        "search.searcher.sampler: cmaes optimizes one objective",
    ),
    (
        ["search.scheduler.metric=val_acc", "search.metric=[val_loss, val_loss]"],
        "search.metric: 'val_loss' is named twice",
    ),
]


@pytest.mark.parametrize("overrides,message", REFUSED, ids=[" ".join(o) or "asha" for o, _ in REFUSED])
def test_several_objectives_are_refused_where_they_cannot_work(overrides, message):
    code, err = validate("quickstart", *TWO, *[a for o in overrides for a in ("--set", o)])
    assert code == 2 and message in err, err
    assert "Traceback" not in err


def test_a_mode_list_needs_a_metric_list_and_the_scheduler_metric_must_be_searched():
    code, err = validate("quickstart", "--set", "search.mode=[min, max]")
    needs = "search.mode: a list ([min, max]) needs search.metric to be a list"
    assert code == 2 and needs in err.replace("'", ""), err
    code, err = validate("quickstart", "--set", "search.scheduler.metric=val_acc")
    assert code == 2 and "search.scheduler.metric: 'val_acc' is not one of search.metric (val_loss)" in err, err


@pytest.mark.parametrize("scheduler", ["search.scheduler.metric=val_acc", "search.scheduler={name: fifo}"])
def test_a_scheduler_that_names_its_metric_and_fifo_work(scheduler):
    code, err = validate("quickstart", *TWO, "--set", scheduler, "--set", "search.searcher.sampler=nsga2")
    assert code == 0, err
    cfg = load_sweep("quickstart", [TWO[1], TWO[3], scheduler])
    assert cfg.search.metric == ["val_loss", "val_acc"] and cfg.search.mode == ["min", "max"]
    assert cfg.to_dict()["search"]["metric"] == ["val_loss", "val_acc"], "sweep.yaml keeps the lists"


def test_one_objective_written_as_a_list_is_the_single_objective_sweep():
    cfg = load_sweep("quickstart", ["search.metric=[val_acc]", "search.mode=[max]"])
    assert (cfg.search.metric, cfg.search.mode) == ("val_acc", "max")
    assert cfg.to_dict() == load_sweep("quickstart", ["search.metric=val_acc", "search.mode=max"]).to_dict()

"""The report of several objectives, from trial rows alone (no sweep): ranking, table, JSON and the front's chart."""

import json

from tuning.report.formats import render
from tuning.report.html import html
from tuning.report.load import Report, TrialRow, rank_pareto

OBJECTIVES = [("val_loss", "min"), ("val_acc", "max"), ("latency", "min")]


def report(values: dict) -> Report:
    trials = [
        TrialRow(
            trial_id=t,
            status="completed",
            metric=v[0] if v else None,
            epoch=1 if v else None,
            values=list(v) if v else None,
            iterations=1,
        )
        for t, v in values.items()
    ]
    ranked = rank_pareto(trials, [m for _, m in OBJECTIVES])
    return Report("runs/three", "val_loss", "min", "best", ranked, objectives=OBJECTIVES)


VALUES = {"a": (0.3, 0.90, 5.0), "b": (0.2, 0.95, 9.0), "c": (0.4, 0.80, 6.0), "d": (0.2, 0.95, 10.0), "e": None}


def test_trials_are_ordered_by_pareto_rank_then_the_first_metric_and_those_without_values_last():
    rows = report(VALUES).trials
    assert [(t.trial_id, t.pareto_rank) for t in rows] == [("b", 1), ("a", 1), ("d", 2), ("c", 2), ("e", None)]
    assert [t.rank for t in rows] == [1, 2, 3, 4, 5]


def test_the_json_and_the_table_carry_the_values_and_the_pareto_rank():
    rep = report(VALUES)
    data = json.loads(rep.to_json())
    assert (data["metrics"], data["modes"]) == (["val_loss", "val_acc", "latency"], ["min", "max", "min"])
    assert data["trials"][0]["values"] == [0.2, 0.95, 9.0] and data["trials"][0]["pareto_rank"] == 1
    header = next(line for line in render(rep).splitlines() if line.startswith("rank "))
    assert header.split()[:7] == ["rank", "trial", "status", "pareto", "val_loss", "val_acc", "latency"]
    single = Report("runs/one", "val_loss", "min", "best", report(VALUES).trials)
    assert "values" not in json.loads(single.to_json())["trials"][0], "a single-objective report is unchanged"


def test_more_than_two_objectives_draw_parallel_coordinates_one_axis_each():
    page = html(report(VALUES))
    front = page[page.index("<h2>Pareto front</h2>") : page.index("<h2>Learning curves</h2>")]
    assert front.count("<polyline") == 4, "one line per trial with values"
    for name in ("val_loss (min)", "val_acc (max)", "latency (min)"):
        assert f">{name}</text>" in front

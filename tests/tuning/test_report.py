"""Ranking and reading rules of the report, on experiment directories written file by file.

The end-to-end tests read directories written by real sweeps; these cover the cases a
healthy tiny sweep does not produce: NaN metrics, ties, crashes mid-write, errors.
"""

import json
import math

import pytest
import yaml

from tuning.formats import render
from tuning.report import load_report
from tuning.errors import UserError


def make_experiment(path, trials, mode="min", states=True):
    """trials: trial_id -> (status, [val_loss per epoch], extra files)."""
    sweep = {"search": {"metric": "val_loss", "mode": mode, "space": {"model.init_args.lr": {"uniform": [0, 1]}},
                        "scheduler": {"name": "asha", "max_t": None}}, "trainer": {"max_epochs": 3}}
    path.mkdir(parents=True, exist_ok=True)
    (path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    data = []
    for trial_id, (status, losses, files) in trials.items():
        trial_dir = path / f"trial_{trial_id}"
        trial_dir.mkdir()
        (trial_dir / "params.json").write_text(json.dumps({"model.init_args.lr": 0.1}))
        rows = [{"trial_id": trial_id, "training_iteration": i + 1, "val_loss": v, "time_total_s": i + 1.0,
                 "config": {"model.init_args.lr": 0.1, "not.searched": 1}} for i, v in enumerate(losses)]
        (trial_dir / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        for name, text in files.items():
            (trial_dir / name).write_text(text)
        data.append([json.dumps({"trial_id": trial_id, "status": status, "relative_logdir": trial_dir.name}), "{}"])
    if states:
        (path / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps({"trial_data": data}))
    return path


def test_nan_and_inf_rank_last_and_ties_break_by_id(tmp_path):
    exp = make_experiment(tmp_path / "e", {
        "d": ("TERMINATED", [math.nan, math.nan, math.nan], {}),
        "c": ("TERMINATED", [0.5, 0.4, 0.3], {}),
        "b": ("TERMINATED", [math.inf, math.inf, 0.3], {}),
        "a": ("TERMINATED", [0.9, 0.8, math.inf], {}),
    })
    report = load_report(str(exp))
    assert [(t.trial_id, t.metric) for t in report.trials][:3] == [("b", 0.3), ("c", 0.3), ("a", 0.8)]
    assert report.trials[-1].trial_id == "d" and report.trials[-1].metric is None
    assert json.loads(report.to_json())["trials"][-1]["metric"] is None  # valid JSON, no NaN


def test_max_mode_ranks_highest_first_and_scope_last_uses_the_final_epoch(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.1, 0.9, 0.2], {}),
                                           "b": ("TERMINATED", [0.5, 0.6, 0.7], {})}, mode="max")
    best = load_report(str(exp))
    assert [(t.trial_id, t.metric, t.epoch) for t in best.trials] == [("a", 0.9, 2), ("b", 0.7, 3)]
    last = load_report(str(exp), scope="last")
    assert [(t.trial_id, t.metric, t.epoch) for t in last.trials] == [("b", 0.7, 3), ("a", 0.2, 3)]


def test_statuses_and_the_error_line(tmp_path):
    error = "Failure # 1\nTraceback (most recent call last):\n  File x\nValueError: lr must be positive\n"
    exp = make_experiment(tmp_path / "e", {
        "done": ("TERMINATED", [0.3, 0.2, 0.1], {}),
        "cut": ("TERMINATED", [0.5], {}),
        "bad": ("ERROR", [0.9], {"error.txt": error}),
        "live": ("RUNNING", [0.4, 0.35], {}),
    })
    status = {t.trial_id: (t.status, t.error) for t in load_report(str(exp)).trials}
    assert status == {"done": ("completed", None), "cut": ("stopped_early", None),
                      "bad": ("errored", "ValueError: lr must be positive"), "live": ("running", None)}


def test_only_searched_params_are_shown(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.1], {})})
    assert load_report(str(exp)).trials[0].config == {"model.init_args.lr": 0.1}


def test_a_truncated_last_line_is_skipped_with_a_warning(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("RUNNING", [0.5, 0.4], {})})
    with open(exp / "trial_a" / "result.json", "a") as fh:
        fh.write('{"trial_id": "a", "training_iteration": 3, "val_lo')
    with pytest.warns(UserWarning, match="result.json:3"):
        report = load_report(str(exp))
    assert (report.trials[0].metric, report.trials[0].iterations) == (0.4, 2)


def test_an_experiment_without_state_file_is_still_readable(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5], {}), "b": ("TERMINATED", [0.4], {})},
                          states=False)
    assert [t.trial_id for t in load_report(str(exp)).trials] == ["b", "a"]


def test_table_says_what_is_ranked_and_how(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5, 0.4, 0.3], {}), "b": ("TERMINATED", [0.6], {})})
    text = render(load_report(str(exp)), "table", top=1)
    assert "ranked by val_loss (min), best epoch of each trial; 2 trials: 1 completed, 1 stopped early" in text
    assert "... 1 more (--top)" in text


def test_not_an_experiment(tmp_path):
    with pytest.raises(UserError, match="no sweep.yaml"):
        load_report(str(tmp_path))

"""The baseline in the report: the trial that ran the recorded base configuration is marked, and the header says
what the search bought over it (and, with a confirmation beside the sweep, whether that beats the seed noise)."""

import json
import math
import statistics

import pytest

from tests.tuning.report.test_report import make_experiment
from tuning.report import load_report, render
from tuning.report.baseline import NOISE_BAND, baseline_line

BASE = {"model.init_args.lr": 0.1}


def _with_baseline(path, record: dict, trials: dict, mode: str = "min"):
    exp = make_experiment(path, trials, mode=mode)
    (exp / "environment.json").write_text(json.dumps({"runs": [{"outcome": "finished"}], "baseline": record}))
    return exp


def _trials(first: list, second: list, third: list) -> dict:
    """Three trials in creation order: a (the base lr), b (lr 0.5), c (the base lr again, a later trial)."""
    return {
        "a": ("TERMINATED", first, {}, BASE),
        "b": ("TERMINATED", second, {}, {"model.init_args.lr": 0.5}),
        "c": ("TERMINATED", third, {}, BASE),
    }


@pytest.mark.parametrize(
    "mode, base, best, worst, gained",
    [("min", [0.8, 0.6], [0.5, 0.2], [9.0], 0.4), ("max", [0.2, 0.3], [0.7, 0.9], [0.0], 0.6)],
)
def test_the_first_trial_of_the_base_config_is_the_baseline_and_the_gain_is_signed_by_mode(
    tmp_path, mode, base, best, worst, gained
):
    """The earliest trial with the recorded config is the baseline (a later one with the same config is not); the
    improvement is positive when the best is better, whichever the mode, and relative to the baseline's value."""
    report = load_report(str(_with_baseline(tmp_path / "e", {"config": BASE}, _trials(base, best, worst), mode)))
    assert [t.trial_id for t in report.trials if t.baseline] == ["a"]
    data = json.loads(report.to_json())
    assert data["baseline"] == {
        "trial_id": "a",
        "metric": pytest.approx(0.6 if mode == "min" else 0.3),
        "best": pytest.approx(0.2 if mode == "min" else 0.9),
        "best_trial_id": "b",
        "improvement": pytest.approx(gained),
        "relative": pytest.approx(gained / (0.6 if mode == "min" else 0.3)),
    }
    assert {t["trial_id"]: t["baseline"] for t in data["trials"]} == {"a": True, "b": False, "c": False}
    line = baseline_line(report)
    assert line.startswith("baseline: trial a, val_loss ") and "best: trial b" in line
    assert f"improvement {gained:.4g} (+{gained / data['baseline']['metric']:.1%})" in line, line


def test_a_baseline_that_is_the_best_gained_nothing_and_a_zero_baseline_has_no_relative(tmp_path):
    report = load_report(str(_with_baseline(tmp_path / "e", {"config": BASE}, _trials([0.0], [0.5], [0.7]))))
    assert report.baseline["best_trial_id"] == "a" and report.baseline["improvement"] == 0.0
    assert report.baseline["relative"] is None
    assert "improvement 0;" not in baseline_line(report) and baseline_line(report).endswith("improvement 0")


def test_no_baseline_is_said_with_its_reason_and_marks_no_trial(tmp_path):
    """A sweep without a baseline (its reason recorded), one whose baseline has not run yet, and one that records
    nothing (search.baseline off, or made before baselines): the first two say so, the third says nothing."""
    reason = "objective.x0 has no base value"
    none = load_report(
        str(_with_baseline(tmp_path / "none", {"config": None, "reason": reason}, _trials([1], [2], [3])))
    )
    assert json.loads(none.to_json())["baseline"] == {"trial_id": None, "reason": reason}
    assert f"baseline: none ({reason})" in render(none, "table").splitlines()[2]
    assert all("baseline" not in t for t in json.loads(none.to_json())["trials"]), "no trial to mark"
    later = {"config": {"model.init_args.lr": 0.9}}
    pending = load_report(str(_with_baseline(tmp_path / "pending", later, _trials([1], [2], [3]))))
    assert pending.baseline == {"trial_id": None, "reason": "no trial has run the base configuration yet"}
    silent = load_report(str(make_experiment(tmp_path / "off", _trials([1], [2], [3]))))
    assert silent.baseline is None and "baseline" not in json.loads(silent.to_json())
    assert "(baseline)" not in render(silent, "table") and "baseline:" not in render(silent, "table")
    assert "baseline" not in render(silent, "csv").splitlines()[0], "no column"


def _confirmation(path, source, runs: dict):
    """A confirmation experiment beside `source`, as tuning confirm links it: config label -> its reruns."""
    trials, n = {}, 0
    for lr, values in runs.items():
        for value in values:
            trials[f"r{n}"] = ("TERMINATED", [value], {}, {"model.init_args.lr": lr})
            n += 1
    make_experiment(path, trials)
    (path / "confirm.json").write_text(json.dumps({"source": str(source.resolve()), "configs": []}))


@pytest.mark.parametrize("spread, beyond", [(0.01, True), (0.5, False)])
def test_confirm_reruns_beside_the_sweep_weigh_the_improvement_against_the_seed_noise(tmp_path, spread, beyond):
    """The noise is the pooled standard deviation of each rerun config's values (a config run once adds nothing);
    the improvement (0.4 here) is larger than the noise when it passes NOISE_BAND of them."""
    exp = _with_baseline(tmp_path / "sweep", {"config": BASE}, _trials([0.6], [0.2], [0.9]))
    runs = {0.5: [0.2, 0.2 + spread, 0.2 - spread], 0.1: [0.6, 0.6 + spread], 0.3: [0.4]}
    _confirmation(tmp_path / "sweep-confirm", exp, runs)
    _confirmation(tmp_path / "other-confirm", tmp_path / "elsewhere", {0.5: [0.0, 5.0]})  # another sweep's: ignored
    noise = load_report(str(exp)).baseline["noise"]
    pooled = math.sqrt(
        (2 * statistics.variance(runs[0.5]) + statistics.variance(runs[0.1])) / 3  # degrees of freedom 2 + 1
    )
    assert noise["std"] == pytest.approx(pooled) and noise["threshold"] == pytest.approx(NOISE_BAND * pooled)
    assert (noise["configs"], noise["runs"], noise["beyond"]) == (2, 5, beyond)
    assert noise["confirmations"] == [str((tmp_path / "sweep-confirm").resolve())]
    words = "larger than the seed noise" if beyond else "within the seed noise"
    assert words in render(load_report(str(exp)), "markdown")


def test_every_format_marks_the_baseline_trial(tmp_path):
    report = load_report(str(_with_baseline(tmp_path / "e", {"config": BASE}, _trials([0.6], [0.2], [0.9]))))
    for fmt in ("table", "markdown", "html"):
        text = render(report, fmt)
        assert text.count("a (baseline)") == 1 and "c (baseline)" not in text, fmt
        assert "baseline: trial a" in text, fmt
    rows = render(report, "csv").splitlines()
    header = rows[0].split(",")
    marks = {row.split(",")[header.index('"trial_id"')]: row.split(",")[header.index('"baseline"')] for row in rows[1:]}
    assert marks == {'"a"': "true", '"b"': "false", '"c"': "false"}

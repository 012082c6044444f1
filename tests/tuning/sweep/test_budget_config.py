"""search.budget and search.stop in the sweep file: durations, limits that cannot be met, rules a sweep cannot enforce,
what a resume may change, and the sentence every report format says an ending in."""

import pytest
import yaml

from tests.in_process import tuning_here
from tuning.errors import UserError
from tuning.sweep.budget import duration_text, ending_text, resume_override_problem, seconds
from tuning.sweep.config import parse_sweep


def _sweep(**search) -> dict:
    return {
        "name": "b",
        "objective": {"name": "branin", "iterations": 3},
        "search": {
            "metric": "value",
            "num_samples": 5,
            "space": {"objective.x0": {"uniform": [-5, 10]}, "objective.x1": {"uniform": [0, 15]}},
            **search,
        },
    }


@pytest.mark.parametrize(
    ("given", "expected"), [("90m", 5400), ("2h", 7200), ("45s", 45), (30, 30), ("1.5h", 5400), (" 1d ", 86400)]
)
def test_a_time_budget_is_a_duration(given, expected):
    assert seconds(given) == expected
    assert parse_sweep(_sweep(budget={"time": given})).search.budget.time == expected


def test_durations_read_back_in_their_largest_whole_unit():
    assert [duration_text(v) for v in (7200, 5400, 45, 2.5, 86400)] == ["2h", "90m", "45s", "2.5s", "1d"]


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ({"budget": {"time": 0}}, "search.budget.time", "above 0"),
        ({"budget": {"time": "-2h"}}, "search.budget.time", "above 0"),
        ({"budget": {"time": "2 weeks"}}, "search.budget.time", "a number with a unit s, m, h or d"),
        ({"budget": {"trials": 0}}, "search.budget.trials", "greater than or equal to 1"),
        ({"budget": {"compute": {"gpu_hours": -1}}}, "search.budget.compute.gpu_hours", "greater than 0"),
        ({"budget": {"compute": {"tpu_hours": 1}}}, "search.budget.compute.tpu_hours", "allowed keys: gpu_hours"),
        ({"budget": {"compute": {}}}, "search.budget.compute", "name gpu_hours or cpu_hours"),
        ({"budget": {}}, "search.budget", "name time, trials or compute"),
        ({"budget": {"hours": 2}}, "search.budget.hours", "allowed keys: time, trials, compute, finish_running"),
        ({"stop": {"plateau": {"trials": 0}}}, "search.stop.plateau.trials", "greater than or equal to 1"),
        ({"stop": {"plateau": {"trials": 5, "min_delta": -1}}}, "search.stop.plateau.min_delta", "greater than"),
        ({"stop": {"regret": "always"}}, "search.stop.regret", "'auto'"),
        ({"stop": {}}, "search.stop", "name plateau"),
        ({"stop": {"regret": "auto"}, "searcher": {"name": "random"}}, "search.stop", "optuna"),
        ({"budget": {"trials": 3}, "searcher": {"name": "grid"}}, "search.budget", "sampler: random"),
    ],
)
def test_a_budget_or_stop_rule_that_cannot_be_met_names_its_key(section, key, says):
    with pytest.raises(UserError) as err:
        parse_sweep(_sweep(**section))
    line = next(line.strip() for line in str(err.value).splitlines() if line.strip().startswith(f"{key}:"))
    assert says in line, line


def test_the_regret_rule_is_for_one_objective():
    sweep = _sweep(stop={"regret": "auto"})
    sweep["objective"]["name"] = "zdt1"
    sweep["search"].update(metric=["f1", "f2"], mode=["min", "min"], scheduler={"name": "fifo"})
    sweep["search"]["space"] = {f"objective.x{i}": {"uniform": [0, 1]} for i in range(4)}
    with pytest.raises(UserError, match=r"search\.stop\.regret: estimates the room .* use stop\.plateau"):
        parse_sweep(sweep)
    sweep["search"]["stop"] = {"plateau": {"trials": 5}}  # the front's hypervolume
    assert parse_sweep(sweep).search.stop.plateau.trials == 5


def test_bad_budgets_exit_2_from_the_command_line_and_write_nothing(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**_sweep(), "run": {"storage": str(tmp_path / "runs")}}))
    for override, key in (("search.budget.time=0", "search.budget.time"), ("search.stop.plateau.trials=-3", "trials")):
        for verb in ("validate", "run"):
            result = tuning_here(verb, str(path), "--set", override)
            assert result.returncode == 2 and key in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_resume_may_change_only_the_budget_and_stop_rules():
    assert resume_override_problem("search.budget.time=3h") is None
    assert resume_override_problem("search.stop={plateau: {trials: 9}}") is None
    assert "a resume changes only the budget and stop rules" in resume_override_problem("search.num_samples=9")
    assert "--set search.budgets" in resume_override_problem("search.budgets.time=1")
    assert "expected KEY=VALUE" in resume_override_problem("search.budget.time")


def test_the_ending_in_one_sentence():
    spent = {"time_s": 7203.4, "trials": 41, "gpu_hours": 7.9, "cpu_hours": 0}
    assert ending_text({"by": "time", "limit": 7200, "spent": spent, "finished": 40, "stopped": ["a", "b"]}) == (
        "sweep ended early after 40 finished trials: its time budget (2h) was reached; spent 7203.4s, 41 trials, "
        "7.9 GPU-hours; 2 running trial(s) stopped after their current epoch"
    )
    assert "compute budget (8 GPU-hours)" in ending_text({"by": "gpu_hours", "limit": 8, "spent": spent})
    plateau = {"by": "plateau", "limit": {"trials": 20, "min_delta": 0.001}, "detail": {"improvement": 0.0004}}
    assert "the best improved by 0.0004 (no more than min_delta 0.001) over the last 20" in ending_text(plateau)
    regret = {"by": "regret", "limit": "auto", "detail": {"regret_bound": 0.1, "noise": 0.2, "noise_from": "x"}}
    assert "(regret bound 0.1) is below the trial-to-trial noise (0.2: sqrt(2) x one trial's" in ending_text(regret)

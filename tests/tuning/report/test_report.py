"""Ranking and reading rules of the report, on experiment directories written file by file.

The end-to-end tests read directories written by real sweeps; these cover the cases a
healthy tiny sweep does not produce: NaN metrics, ties, crashes mid-write, errors.
"""

import json
import math
import random

import pytest
import yaml

from tuning.errors import UserError
from tuning.report.formats import render
from tuning.report.load import load_report


def make_experiment(path, trials, mode="min", states=True, space=None):
    """trials: trial_id -> (status, [val_loss per epoch], extra files[, params])."""
    space = space or {"model.init_args.lr": {"uniform": [0, 1]}}
    sweep = {
        "search": {"metric": "val_loss", "mode": mode, "space": space, "scheduler": {"name": "asha", "max_t": None}},
        "trainer": {"max_epochs": 3},
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    data = []
    for trial_id, (status, losses, files, *params) in trials.items():
        params = params[0] if params else {"model.init_args.lr": 0.1}
        trial_dir = path / f"trial_{trial_id}"
        trial_dir.mkdir()
        (trial_dir / "params.json").write_text(json.dumps(params))
        rows = [
            {
                "trial_id": trial_id,
                "training_iteration": i + 1,
                "val_loss": v,
                "val_acc": 1 - i / 10,
                "time_total_s": i + 1.0,
                "timestamp": 1000 + i + 1,
                "config": {**params, "not.searched": 1},
            }
            for i, v in enumerate(losses)
        ]
        (trial_dir / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        for name, text in files.items():
            (trial_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (trial_dir / name).write_text(text)
        data.append([json.dumps({"trial_id": trial_id, "status": status, "relative_logdir": trial_dir.name}), "{}"])
    if states:
        (path / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps({"trial_data": data}))
    return path


def test_nan_and_inf_rank_last_and_ties_break_by_id(tmp_path):
    exp = make_experiment(
        tmp_path / "e",
        {
            "d": ("TERMINATED", [math.nan, math.nan, math.nan], {}),
            "c": ("TERMINATED", [0.5, 0.4, 0.3], {}),
            "b": ("TERMINATED", [math.inf, math.inf, 0.3], {}),
            "a": ("TERMINATED", [0.9, 0.8, math.inf], {}),
        },
    )
    report = load_report(str(exp))
    assert [(t.trial_id, t.metric) for t in report.trials][:3] == [("b", 0.3), ("c", 0.3), ("a", 0.8)]
    assert report.trials[-1].trial_id == "d" and report.trials[-1].metric is None
    assert json.loads(report.to_json())["trials"][-1]["metric"] is None  # valid JSON, no NaN


def test_max_mode_ranks_highest_first_and_scope_last_uses_the_final_epoch(tmp_path):
    exp = make_experiment(
        tmp_path / "e", {"a": ("TERMINATED", [0.1, 0.9, 0.2], {}), "b": ("TERMINATED", [0.5, 0.6, 0.7], {})}, mode="max"
    )
    best = load_report(str(exp))
    assert [(t.trial_id, t.metric, t.epoch) for t in best.trials] == [("a", 0.9, 2), ("b", 0.7, 3)]
    last = load_report(str(exp), scope="last")
    assert [(t.trial_id, t.metric, t.epoch) for t in last.trials] == [("b", 0.7, 3), ("a", 0.2, 3)]


def test_statuses_and_the_error_line(tmp_path):
    error = "Failure # 1\nTraceback (most recent call last):\n  File x\nValueError: lr must be positive\n"
    exp = make_experiment(
        tmp_path / "e",
        {
            "done": ("TERMINATED", [0.3, 0.2, 0.1], {}),
            "cut": ("TERMINATED", [0.5], {}),
            "bad": ("ERROR", [0.9], {"error.txt": error}),
            "live": ("RUNNING", [0.4, 0.35], {}),
        },
    )
    status = {t.trial_id: (t.status, t.error) for t in load_report(str(exp)).trials}
    assert status == {
        "done": ("completed", None),
        "cut": ("stopped_early", None),
        "bad": ("errored", "ValueError: lr must be positive"),
        "live": ("running", None),
    }


@pytest.mark.parametrize(
    "outcome,cut,full",
    [
        ("finished", "stopped_early", "completed"),
        ("interrupted", "pending", "completed"),
        (None, "pending", "completed"),
    ],
)
def test_a_trial_left_paused_is_done_when_the_sweep_finished(tmp_path, outcome, cut, full):
    """HyperBand leaves a trial it ended PAUSED in Tune's state: once the sweep finished it is stopped early (or
    completed, at its budget); in an interrupted or running sweep it is pending until resumed."""
    exp = make_experiment(
        tmp_path / "e",
        {"cut": ("PAUSED", [0.5], {}), "full": ("PAUSED", [0.4, 0.3, 0.2], {}), "waiting": ("PENDING", [], {})},
    )
    if outcome:
        runs = [{"command": "run", "outcome": "interrupted"}, {"command": "resume", "outcome": outcome}]
        (exp / "environment.json").write_text(json.dumps({"runs": runs}))
    status = {t.trial_id: t.status for t in load_report(str(exp)).trials}
    assert status == {"cut": cut, "full": full, "waiting": "pending"}


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
    exp = make_experiment(
        tmp_path / "e", {"a": ("TERMINATED", [0.5], {}), "b": ("TERMINATED", [0.4], {})}, states=False
    )
    assert [t.trial_id for t in load_report(str(exp)).trials] == ["b", "a"]


def test_table_says_what_is_ranked_and_how(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5, 0.4, 0.3], {}), "b": ("TERMINATED", [0.6], {})})
    text = render(load_report(str(exp)), "table", top=1)
    assert "ranked by val_loss (min), best epoch of each trial; 2 trials: 1 completed, 1 stopped early" in text
    assert "... 1 more (--top)" in text


def test_not_an_experiment(tmp_path):
    with pytest.raises(UserError, match="no sweep.yaml"):
        load_report(str(tmp_path))


def _recomputed(exp, mode):
    """The ranking worked out from the raw result files, independently of tuning.report.load."""
    best = {}
    for path in exp.glob("trial_*/result.json"):
        values = [json.loads(line)["val_loss"] for line in path.read_text().splitlines()]
        finite = [v for v in values if math.isfinite(v)]
        best[path.parent.name[len("trial_") :]] = (min if mode == "min" else max)(finite) if finite else None
    ranked = sorted((v if mode == "min" else -v, t) for t, v in best.items() if v is not None)
    return [t for _, t in ranked] + sorted(t for t, v in best.items() if v is None), best


@pytest.mark.parametrize("mode", ["min", "max"])
def test_ranking_equals_a_recomputation_from_the_raw_files(tmp_path, mode):
    rng = random.Random(mode)
    pool = [0.1, 0.2, 0.2, 0.3, math.nan, math.inf, -math.inf]  # repeated values make ties across trials
    trials = {}
    for i in range(40):
        losses = [rng.choice(pool) for _ in range(rng.randint(1, 3))]
        status = rng.choice(["TERMINATED", "TERMINATED", "ERROR", "RUNNING"])
        files = {"error.txt": "Traceback\nRuntimeError: boom\n"} if status == "ERROR" else {}
        trials[f"t{rng.randrange(10**6):06d}"] = (status, losses, files)
    exp = make_experiment(tmp_path / "e", trials, mode=mode)
    order, best = _recomputed(exp, mode)
    report = load_report(str(exp))
    assert [t.trial_id for t in report.trials] == order
    assert [t.metric for t in report.trials] == [best[t] for t in order]
    assert [t.rank for t in report.trials] == list(range(1, len(order) + 1))
    assert {t.error for t in report.trials if t.status == "errored"} == {"RuntimeError: boom"}
    parsed = json.loads(render(report, "json"))  # strict JSON: no NaN or Infinity tokens
    assert [t["trial_id"] for t in parsed["trials"]] == order


def test_status_filter_keeps_the_ranks_among_all_trials(tmp_path):
    exp = make_experiment(
        tmp_path / "e",
        {
            "a": ("TERMINATED", [0.1, 0.1, 0.1], {}),
            "b": ("TERMINATED", [0.2], {}),
            "c": ("ERROR", [0.3], {"error.txt": "x\nValueError: no\n"}),
        },
    )
    report = load_report(str(exp), status="stopped_early,errored")
    assert [(t.rank, t.trial_id, t.status) for t in report.shown()] == [(2, "b", "stopped_early"), (3, "c", "errored")]
    assert report.trials[1].stopped_at == 1
    with pytest.raises(UserError, match="--status: unknown status 'done'"):
        load_report(str(exp), status="done")


def test_checkpoints_are_counted_and_sized_and_the_best_one_is_named(tmp_path):
    files = {
        "checkpoint_000000/checkpoint.ckpt": "x" * 100,
        "checkpoint_000002/checkpoint.ckpt": "y" * 50,
        "checkpoint_000002/extra.json": "{}",
    }
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5, 0.9, 0.4], files)})
    for line_no, name in ((0, "checkpoint_000000"), (2, "checkpoint_000002")):
        rows = [json.loads(line) for line in (exp / "trial_a" / "result.json").read_text().splitlines()]
        rows[line_no]["checkpoint_dir_name"] = name
        (exp / "trial_a" / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    trial = load_report(str(exp)).trials[0]
    assert (trial.checkpoints, trial.checkpoint_bytes) == (2, 152)
    assert trial.checkpoint == str(exp.resolve() / "trial_a" / "checkpoint_000002")
    assert trial.metrics == {"val_acc": 0.8}  # the other metrics at the ranked epoch (3)


def test_compute_accounting(tmp_path):
    exp = make_experiment(
        tmp_path / "e", {"full": ("TERMINATED", [0.5, 0.4, 0.3], {}), "cut": ("TERMINATED", [0.6], {})}
    )
    compute = load_report(str(exp)).compute()
    # trial-seconds 3 + 1; "cut" ran 1 of 3 epochs at 1 s each: ~2 s saved; started at 1000, best at 1003
    assert compute == {"trials": 2, "trial_s": 4.0, "gpu_s": 0.0, "saved_s": 2.0, "wall_s": 3.0, "time_to_best_s": 3.0}


def test_a_file_uri_reads_like_a_path(tmp_path):
    """A local path is read through os, a URI through pyarrow: the same report either way."""
    exp = make_experiment(
        tmp_path / "e",
        {
            "a": ("TERMINATED", [0.5], {"checkpoint_000000/c.ckpt": "x" * 70}),
            "b": ("ERROR", [0.4], {"error.txt": "Traceback\nValueError: boom\n"}),
        },
    )
    by_path, by_uri = load_report(str(exp)), load_report(exp.resolve().as_uri())
    assert by_uri.to_dict() == by_path.to_dict()
    assert [(t.trial_id, t.checkpoint_bytes, t.error) for t in by_path.trials] == [
        ("b", 0, "ValueError: boom"),
        ("a", 70, None),
    ]


def test_a_local_json_report_imports_no_heavy_library(tmp_path):
    from tests.imports import fresh_imports

    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5], {}), "b": ("TERMINATED", [0.4], {})})
    report = "import sys; from tuning.cli.commands import main; main(['report', sys.argv[1], '--format', 'json'])"
    out, _, imported = fresh_imports(report, ("pyarrow", "pandas", "optuna", "sklearn", "torch", "ray"), str(exp))
    assert json.loads(out)["trials"][0]["trial_id"] == "b"
    assert imported == []


def test_json_is_a_superset_of_the_design_contract(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5, 0.4, 0.3], {})})
    data = json.loads(load_report(str(exp)).to_json())
    assert {"experiment", "metric", "mode", "scope", "trials"} <= set(data)
    assert {
        "rank",
        "trial_id",
        "status",
        "metric",
        "config",
        "iterations",
        "time_s",
        "checkpoint",
        "error",
        "node",
        "epoch",
        "seed",
        "checkpoints",
        "checkpoint_bytes",
    } <= set(data["trials"][0])
    assert list(data["trials"][0])[:3] == ["rank", "trial_id", "status"]


def test_a_cut_short_trial_json_only_loses_seed_and_node(tmp_path):
    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5, 0.4, 0.3], {"trial.json": '{"seed": 1, "pa'})})
    with pytest.warns(UserWarning, match="trial.json: unreadable"):
        trial = load_report(str(exp)).trials[0]
    assert (trial.metric, trial.seed, trial.node) == (0.3, None, None)

"""The Python API end to end on the synthetic objective: run (a dict, a file), load, report and to_pandas against
`tuning report --format json`, errored trials, bad input, resume(more=). In this process, on the session's Ray."""

import json
import math
import os
import pickle
import shutil
import warnings

import pytest
import yaml

import tuning
from tests.in_process import tuning_here

# Branin with one point that overflows (x1 = 1e200): its trial errors, deterministically, as the first one.
BRANIN = {
    "name": "branin",
    "objective": {"name": "branin", "iterations": 3},
    "search": {
        "metric": "value",
        "mode": "min",
        "num_samples": 4,
        "space": {"objective.x0": {"uniform": [-5.0, 10.0]}, "objective.x1": {"choice": [1.0, 2.0, 1.0e200]}},
        "searcher": {"name": "optuna", "seed": 0, "points_to_evaluate": [{"objective.x0": 3.0, "objective.x1": 1e200}]},
        "scheduler": {"name": "fifo"},
    },
    "resources": {"cpu": 1, "max_concurrent": 2},
    "run": {"seed": 0, "max_failures": 0},
}


@pytest.fixture(scope="module")
def branin(ray_session, tmp_path_factory):
    """One sweep run from a dict with tuning.run, and the warnings it gave."""
    saved = dict(os.environ)  # the driver sets TUNE_* variables for the Ray it runs on
    storage = tmp_path_factory.mktemp("api")
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            exp = tuning.run(BRANIN, storage=storage)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return exp, [str(w.message) for w in said if issubclass(w.category, UserWarning)]


def _cli_json(exp, *flags: str) -> dict:
    result = tuning_here("report", exp.location, "--format", "json", *flags)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_dict_sweep_runs_and_says_which_trials_errored(branin, tmp_path):
    exp, said = branin
    assert isinstance(exp, tuning.Experiment) and exp.location.endswith("/branin")
    cli = _cli_json(exp)
    errored = [t["trial_id"] for t in cli["trials"] if t["status"] == "errored"]
    assert 1 <= len(errored) < len(cli["trials"])  # the overflowing point, and trials that ran
    assert [t.trial_id for t in exp.errored] == errored
    assert all("OverflowError" in t.error for t in exp.errored)
    assert [w for w in said if f"{len(errored)} of {len(cli['trials'])} trials errored" in w], said
    assert BRANIN["search"]["num_samples"] == 4 and "name" in BRANIN, "the caller's dict is left as it was"


def test_report_and_to_pandas_agree_with_the_cli_json(branin):
    exp, _ = branin
    cli, rep = _cli_json(exp), exp.report()
    assert rep.to_dict() == cli
    assert (rep.metric, rep.mode, rep.scope) == ("value", "min", "best")
    df = rep.to_pandas()
    keys = ["objective.x0", "objective.x1"]
    assert list(df.columns) == ["rank", "trial_id", "status", "metric", "epoch", "epochs", "time_s", *keys]
    assert df["rank"].tolist() == [t["rank"] for t in cli["trials"]] == list(range(1, len(cli["trials"]) + 1))
    assert df["trial_id"].tolist() == [t["trial_id"] for t in cli["trials"]]
    assert df["status"].tolist() == [t["status"] for t in cli["trials"]]
    for row, trial in zip(df.to_dict("records"), cli["trials"]):
        assert _same(row["metric"], trial["metric"]) and _same(row["epoch"], trial["epoch"])
        assert row["epochs"] == trial["iterations"] and row["time_s"] == trial["time_s"]
        assert all(_same(row[k], trial["config"].get(k)) for k in keys)
    best = rep.best
    assert best.trial_id == cli["trials"][0]["trial_id"] and best.metric == cli["trials"][0]["metric"]
    assert best.rank == 1 and best.epochs == 3 and set(best.config) == set(keys) and best.checkpoint is None
    # top and status as the CLI's --top and --status: the same trials, ranks kept among all
    assert exp.report(top=2).to_dict() == _cli_json(exp, "--top", "2")
    errored = exp.report(status=["errored"])
    assert errored.to_dict() == _cli_json(exp, "--status", "errored") and errored.best is None
    assert {t.rank for t in errored.trials} == {t["rank"] for t in cli["trials"] if t["status"] == "errored"}


def _same(a, b) -> bool:
    """Equal, a missing value (None, or pandas' NaN) matching a missing one."""
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    return all(missing) or (not any(missing) and a == b)


class _Trap:
    """Unpickling it would write `path`: a load that never unpickles leaves no such file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_load_and_report_read_without_unpickling_or_importing(branin, tmp_path):
    exp, _ = branin
    copy, marker = tmp_path / "copy", tmp_path / "unpickled"
    shutil.copytree(exp.location, copy)
    pickles = [p for p in copy.rglob("*") if p.suffix == ".pkl" or p.name.startswith("search_gen_state")]
    assert pickles, "Tune wrote its pickles"
    for path in pickles:
        path.write_bytes(pickle.dumps(_Trap(marker)))
    loaded = tuning.load(copy)
    assert loaded == tuning.Experiment(str(copy)) and loaded.report().to_pandas()["trial_id"].tolist()
    assert [t.trial_id for t in loaded.errored] == [t.trial_id for t in exp.errored]
    assert not marker.exists()
    with pytest.raises(tuning.SweepError, match="no sweep.yaml"):
        tuning.load(tmp_path)
    with pytest.raises(tuning.SweepError, match="trains no model"):
        exp.report().best.load_model()


def test_a_sweep_file_with_set_and_name(ray_session, tmp_path):
    sweep = tmp_path / "sweep.yaml"
    space = {"objective.x0": {"uniform": [-5.0, 10.0]}, "objective.x1": {"uniform": [0.0, 15.0]}}
    sweep.write_text(yaml.safe_dump({**BRANIN, "search": {**BRANIN["search"], "space": space, "searcher": {}}}))
    saved = dict(os.environ)
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            exp = tuning.run(
                sweep, set={"search.num_samples": 2, "objective.iterations": 2}, storage=tmp_path, name="f"
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert exp.location == str(tmp_path / "f")
    written = yaml.safe_load((tmp_path / "f" / "sweep.yaml").read_text())
    assert (written["name"], written["search"]["num_samples"], written["objective"]["iterations"]) == ("f", 2, 2)
    assert [(t.status, t.epochs) for t in exp.report().trials] == [("completed", 2)] * 2
    assert exp.errored == [] and not [w for w in said if "errored" in str(w.message)]


@pytest.mark.parametrize(
    "change, flags, message",
    [
        ({"search": {**BRANIN["search"], "metrc": "value"}}, [], "search.metrc: unknown key"),
        ({}, ["--set", "search.num_samples=0"], "search.num_samples"),
        ({}, ["--set", "objective.nmae=branin"], "objective.nmae"),
    ],
)
def test_bad_input_is_a_sweep_error_with_the_clis_message_and_writes_nothing(tmp_path, change, flags, message):
    sweep, storage = tmp_path / "sweep.yaml", tmp_path / "runs"
    sweep.write_text(yaml.safe_dump({**BRANIN, **change}))
    cli = tuning_here("run", str(sweep), "--storage", str(storage), *flags)
    assert cli.returncode == 2 and message in cli.stderr, cli.stderr
    overrides = dict(flag.split("=", 1) for flag in flags[1::2])
    with pytest.raises(tuning.SweepError) as raised:
        tuning.run(str(sweep), set={k: yaml.safe_load(v) for k, v in overrides.items()}, storage=storage)
    assert isinstance(raised.value, ValueError)
    assert cli.stderr == f"tuning run: error: {raised.value}\n"
    assert not storage.exists()


def test_bad_arguments_name_what_is_wrong(tmp_path):
    with pytest.raises(tuning.SweepError, match="neither a file nor a built-in sweep"):
        tuning.run("no-such-sweep")
    with pytest.raises(tuning.SweepError, match="numbers must be finite"):
        tuning.run(BRANIN, set={"objective.noise": float("nan")}, storage=tmp_path)
    with pytest.raises(tuning.SweepError, match="--set search.num_samples: a set is not a value"):
        tuning.run(BRANIN, set={"search.num_samples": {1}}, storage=tmp_path)
    with pytest.raises(tuning.SweepError, match="name: String should match pattern"):
        tuning.run(BRANIN, name="../escape", storage=tmp_path)
    with pytest.raises(tuning.SweepError, match="tuning.submit"):
        tuning.run(BRANIN, storage=tmp_path, address="http://127.0.0.1:8265")
    assert list(tmp_path.iterdir()) == []


def test_resume_more_adds_trials_and_keeps_the_errored_ones_with_skip_errored(branin):
    """Last in this module: it adds trials to the module's experiment."""
    exp, _ = branin
    before = exp.report()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its errored trial is still errored
        assert exp.resume(more=2, skip_errored=True) is exp
    after = exp.report()
    assert len(after.trials) == len(before.trials) + 2
    assert {t.trial_id for t in before.trials} < {t.trial_id for t in after.trials}
    assert {t.trial_id for t in exp.errored} >= {t.trial_id for t in before.trials if t.status == "errored"}
    assert yaml.safe_load(open(os.path.join(exp.location, "sweep.yaml")))["search"]["num_samples"] == 6
    with pytest.raises(tuning.SweepError, match="--more: must be a whole number >= 1"):
        exp.resume(more=-1)

"""The study of an experiment on URI storage follows it (the killed and resumed sweeps on URI storage, crash repairs
included, are in tests/cluster/test_jobs.py (test_a_uri_sweep_survives_three_lost_drivers))."""

import os
import pickle

import optuna
import pytest

from tuning.driver.resume import study_storage
from tuning.driver.study import STUDY_FILE, fetch, live_path


def test_a_uri_study_is_published_whole_and_reopened_where_it_is_resumed(tmp_path, monkeypatch):
    location = f"file://{tmp_path}/runs/exp"
    monkeypatch.setenv("TUNING_STUDY_DIR", str(tmp_path / "driver-a"))
    storage = study_storage("optuna", location)
    study = optuna.create_study(study_name="tuning", storage=storage)
    study.tell(study.ask(), 1.0)
    storage.publish()
    study.tell(study.ask(), 2.0)  # after the publication: not in the experiment's copy
    saved = pickle.dumps(storage)  # as Tune saves it with its searcher

    published = optuna.load_study(study_name="tuning", storage=f"sqlite:///{tmp_path}/runs/exp/{STUDY_FILE}")
    assert [t.value for t in published.trials] == [1.0]
    assert not list((tmp_path / "runs" / "exp").glob(".*")), "no staged upload is left behind"

    # Another machine (another live root): the study is downloaded there and Tune's unpickled storage opens it.
    monkeypatch.setenv("TUNING_STUDY_DIR", str(tmp_path / "driver-b"))
    assert fetch(location) == live_path(location) and live_path(location).is_relative_to(tmp_path / "driver-b")
    restored = pickle.loads(saved)
    assert restored.url == f"sqlite:///{live_path(location)}"
    again = optuna.load_study(study_name="tuning", storage=restored)
    assert [t.value for t in again.trials] == [1.0]
    again.tell(again.ask(), 3.0)
    restored.publish()
    assert [
        t.value
        for t in optuna.load_study(study_name="tuning", storage=f"sqlite:///{tmp_path}/runs/exp/{STUDY_FILE}").trials
    ] == [1.0, 3.0]
    assert fetch(f"file://{tmp_path}/runs/none") is None


def test_a_resume_job_is_refused_here_before_any_cluster_is_contacted(tmp_path, capsys):
    from tuning.cli.commands import main

    nowhere = "http://127.0.0.1:9"  # nothing listens: a request would fail otherwise than with exit 2
    assert main(["resume", "runs/x", "--address", nowhere]) == 2
    assert "relative path" in capsys.readouterr().err
    assert main(["resume", f"file://{tmp_path}/runs/x", "--address", nowhere]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "runs" / "y").mkdir(parents=True)
    (tmp_path / "runs" / "y" / "environment.json").write_text("{}")
    assert main(["resume", str(tmp_path / "runs" / "y"), "--address", nowhere]) == 2
    err = capsys.readouterr().err
    assert "sweep.yaml" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "runs").rglob("*")) == ["environment.json", "y"], "nothing written"


def test_a_searcher_restored_from_a_state_older_than_tunes_takes_the_trial_from_the_study(
    tmp_path, tiny_sweep, monkeypatch
):
    """Tune saves its trial list before its searcher: a driver killed in between (or while they are uploaded)
    leaves a trial the restored searcher never proposed; the study knows it by its Tune id."""
    from tuning.search.searchers import make_searcher
    from tuning.sweep.config import parse_sweep
    from tuning.sweep.space import to_param_space

    search = parse_sweep(tiny_sweep).search
    location = f"file://{tmp_path}/runs/exp"
    monkeypatch.setenv("TUNING_STUDY_DIR", str(tmp_path / "live"))  # nothing left in the machine's temp dir
    searcher = make_searcher(search, 0, storage=study_storage("optuna", location))
    searcher.set_search_properties(search.metric, search.mode, to_param_space(search.space, False))
    searcher.save(str(tmp_path / "snapshot.pkl"))  # the searcher's state, saved before this trial
    params = searcher.suggest("t1")  # then proposed, and in Tune's trial list
    searcher.on_trial_result("t1", {"val_loss": 1.0, "training_iteration": 1})

    resumed = make_searcher(search, 0, storage=study_storage("optuna", location))
    fetch(location)  # what `tuning resume` does before Tune's restore
    resumed.restore(str(tmp_path / "snapshot.pkl"))
    resumed.on_trial_result("t1", {"val_loss": 0.9, "training_iteration": 1})  # would be a KeyError
    resumed.on_trial_complete("t1", {"val_loss": 0.5, "training_iteration": 2})
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{tmp_path}/runs/exp/{STUDY_FILE}")
    assert [(t.state, t.value, t.user_attrs["tune_trial_id"]) for t in study.trials] == [
        (optuna.trial.TrialState.COMPLETE, 0.5, "t1")
    ], "published when it ended, told once"
    assert study.trials[0].params == params


@pytest.mark.integration  # a sweep in a `tuning` process
def test_a_job_restarted_before_tunes_first_snapshot_starts_its_sweep_again_in_place(tmp_path):
    """A restarted job whose first start stopped before Ray Tune saved anything (sweep.yaml only) runs the sweep."""
    import subprocess
    import sys

    import yaml

    from tuning.driver.resume import trial_states
    from tuning.sweep.config import load_sweep

    storage = f"file://{tmp_path}/runs"
    cfg = load_sweep("synthetic", ["search.num_samples=3", "objective.iterations=2", f"run.storage={storage}"])
    (tmp_path / "runs" / "synthetic").mkdir(parents=True)
    (tmp_path / "runs" / "synthetic" / "sweep.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuning",
            "run",
            "synthetic",
            "--set",
            "search.num_samples=3",
            "--set",
            "objective.iterations=2",
            "--storage",
            storage,
            "--resume-existing",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TUNING_STUDY_DIR=str(tmp_path / "live")),
    )  # not the machine's temp dir
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "starting the existing experiment" in done.stderr
    states = trial_states(tmp_path / "runs" / "synthetic")
    assert len(states) == 3 and {s["status"] for s in states} == {"TERMINATED"}

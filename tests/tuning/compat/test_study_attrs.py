"""tuning.compat.study_attrs writes user attributes of finished trials in the schema of the installed Optuna's RDB
storage, and Optuna reads them back as its own."""

import optuna
import pytest

from tuning.compat.study_attrs import TUNE_ID_ATTR, set_by_tune_id


def test_finished_trials_get_the_attribute_optuna_itself_refuses_to_set(tmp_path):
    db = tmp_path / "optuna.db"
    study = optuna.create_study(study_name="tuning", storage=f"sqlite:///{db}")
    for tune_id, value in [("a", 1.0), ("b", None), ("c", 3.0), ("b", 2.0)]:  # "b" failed, then was retried
        trial = study.ask()
        trial.set_user_attr(TUNE_ID_ATTR, tune_id)
        study.tell(trial, value, state=None if value is not None else optuna.trial.TrialState.FAIL)
    study.add_trial(optuna.trial.create_trial(value=0.5))  # a warm-start point: no Tune id
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        study._storage.set_trial_user_attr(study.trials[0]._trial_id, "rank", 1)

    assert set_by_tune_id(db, "rank", {"a": 9, "b": 9, "c": 9, "gone": 9}) == 3
    assert set_by_tune_id(db, "rank", {"a": 1, "b": 2}) == 2  # a later end: "c" left out, its old rank removed
    read = optuna.load_study(study_name="tuning", storage=f"sqlite:///{db}").trials
    assert [t.user_attrs.get("rank") for t in read] == [1, None, None, 2, None]  # the newest "b" only
    assert [t.user_attrs.get(TUNE_ID_ATTR) for t in read] == ["a", "b", "c", "b", None]  # the rest as it was

"""The Optuna searcher of a sweep (tuning/compat/study_search.py), and TPE with a bounded history (compat)."""

import pickle

import optuna
import pytest

from tuning.compat import optuna as optuna_compat
from tuning.search.searchers import make_searcher
from tuning.sweep.config import load_sweep
from tuning.sweep.space import to_param_space


def _searcher(*changes):
    cfg = load_sweep("synthetic", ["search.searcher.seed=0", *changes])
    search = make_searcher(cfg.search, 0, storage=optuna.storages.InMemoryStorage())
    search.set_search_properties("value", "min", to_param_space(cfg.search.space, False))
    return search


def test_a_finished_trial_leaves_the_searcher_and_stays_in_the_study():
    """The searcher forgets what the study holds: kept, it grew (and every snapshot of it) with each trial."""
    search = _searcher()
    for i in range(5):
        trial_id = f"t{i}"
        config = search.suggest(trial_id)
        search.on_trial_result(trial_id, {"value": 1.0 + i, "training_iteration": 1, "config": config})
        search.on_trial_complete(trial_id, {"value": 0.5 + i, "training_iteration": 2, "config": config})
    assert search._ot_trials == {} and search.__dict__.get("_reported", {}) == {}
    assert search._completed_trials == {f"t{i}" for i in range(5)}
    stored = search._ot_study.get_trials(deepcopy=False)
    assert [t.state for t in stored] == [optuna.trial.TrialState.COMPLETE] * 5
    assert [t.intermediate_values for t in stored] == [{1: 1.0 + i, 2: 0.5 + i} for i in range(5)]
    search.on_trial_complete("t0", {"value": 9.0, "training_iteration": 3})  # Tune's repeat: ignored, no KeyError
    assert len(search._ot_study.get_trials(deepcopy=False)) == 5


def test_an_errored_trial_stays_for_a_retry():
    search = _searcher()
    search.suggest("t0")
    search.on_trial_complete("t0", error=True)
    assert "t0" in search._ot_trials  # tuning resume --retry-errored adds its retry through it
    assert search._ot_study.get_trials(deepcopy=False)[0].state == optuna.trial.TrialState.FAIL


def _study(n: int, direction="minimize"):
    study = optuna.create_study(direction=direction)
    dist = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    for i in range(n):  # the best values are the oldest trials: a window of recent ones alone would lose them
        study.add_trial(optuna.trial.create_trial(params={"x": i / n}, distributions=dist, value=float(i)))
    study.ask(dist)  # one running
    return study


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_bounded_tpe_models_the_best_quarter_and_the_most_recent_rest(direction):
    study = _study(100, direction)
    view = optuna_compat._RecentTrials(study, history=20)
    kept = view._get_trials(deepcopy=False, states=None, use_cache=False)
    numbers = [t.number for t in kept]
    best = list(range(5)) if direction == "minimize" else list(range(95, 100))
    recent = [n for n in range(99, -1, -1) if n not in best][:15]
    assert numbers == sorted(best + recent + [100])  # 5 best, 15 most recent, the running one
    assert view.directions == study.directions  # everything else is the study's own
    assert len(optuna_compat._RecentTrials(study, history=200)._get_trials()) == 101


def test_bounded_tpe_samples_pickles_and_refuses_nothing_else():
    sampler = optuna_compat.BoundedTPESampler(20, seed=0, multivariate=True, constant_liar=True)
    study = _study(60)
    study.sampler = sampler
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
    assert 0.0 <= trial.params["x"] <= 1.0
    restored = pickle.loads(pickle.dumps(sampler))  # Tune pickles the searcher in every snapshot
    assert type(restored).__name__ == "BoundedTPESampler" and restored._history == 20
    assert isinstance(restored, optuna.samplers.TPESampler)
    search = _searcher("search.searcher.history=50")
    assert search._sampler._history == 50

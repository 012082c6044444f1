"""Reaches into private parts of Optuna, and the samplers Tune can pickle.

Each function or class says why the public API does not do the job; tests/tuning/compat/test_seam.py checks
them. Importing this module imports Optuna: the searchers import it when a sweep uses the optuna searcher.
"""

import threading

import optuna

# The attributes of Tune's OptunaSearch that tuning.compat.study_search.StudySearch uses (checked by the seam test).
OPTUNA_SEARCH_ATTRIBUTES = ("_ot_study", "_ot_trials", "_space", "_completed_trials", "_storage")


def rebind_rdb_state(state: dict, url: str) -> dict:
    """Optuna's pickled RDBStorage state with its database URL replaced: a URI experiment's study is opened
    on the machine that resumes it, at that machine's live path (tuning.driver.study). RDBStorage reopens
    `url` from its state when unpickled and offers no other way to point a restored searcher elsewhere."""
    if "url" not in state:
        raise RuntimeError("optuna's RDBStorage no longer pickles its 'url': see tuning.compat.optuna.rebind_rdb_state")
    return {**state, "url": url}


def optuna_trial(study, trial_id: int):
    """The Trial handle of a study's existing (running) trial, as Optuna's own `ask` builds it: the searcher adopts a
    trial its restored state lost (study_search.StudySearch._adopt); Optuna has no public way to reopen one."""
    return optuna.trial.Trial(study, trial_id)


def fail_trial(storage, trial, why: str) -> None:
    """Mark a study's RUNNING trial FAIL, with `why` as its user attribute "tuning": Optuna's storage API takes the
    trial's `_trial_id` (a study's public API tells only trials it is running itself)."""
    storage.set_trial_user_attr(trial._trial_id, "tuning", why)
    storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)


class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II sampler, as one Tune can pickle: Optuna's genetic samplers keep a threading.Lock
    (`_thread_lock`) that pickle refuses, and Tune pickles the searcher with the sweep's state (at Tuner creation
    and in every snapshot). The lock only guards threads sharing the sampler; Tune asks it from one thread. The
    study's system attributes keep NSGA-II's own keys."""

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_thread_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state, _thread_lock=threading.Lock())


# Optuna's GA base class names a subclass's study keys after the subclass (__init_subclass__): keep NSGA-II's own,
# so the study reads as one NSGA-II ran.
PicklableNSGAIISampler._GENERATION_KEY = optuna.samplers.NSGAIISampler._GENERATION_KEY
PicklableNSGAIISampler._PARENT_CACHE_KEY_PREFIX = optuna.samplers.NSGAIISampler._PARENT_CACHE_KEY_PREFIX


class _RecentTrials:
    """A study as TPESampler._sample reads it, limited to `history` finished trials: the best quarter of them
    (single objective) and the most recent rest, with every running one."""

    def __init__(self, study, history: int):
        self._study, self._history = study, history

    def __getattr__(self, name):
        return getattr(self._study, name)

    def _get_trials(self, deepcopy=False, states=None, use_cache=False):
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        finished = [t for t in trials if t.state.is_finished()]
        if len(finished) <= self._history:
            return trials
        kept = set()
        if len(self._study.directions) == 1:
            scored = [t for t in finished if t.value is not None]
            scored.sort(key=lambda t: t.value, reverse=self._study.direction == optuna.study.StudyDirection.MAXIMIZE)
            kept = {t.number for t in scored[: self._history // 4]}
        recent = [t.number for t in finished if t.number not in kept][-(self._history - len(kept)) :]
        kept.update(recent)
        return [t for t in trials if not t.state.is_finished() or t.number in kept]


class BoundedTPESampler(optuna.samplers.TPESampler):
    """Optuna's TPESampler (`tpe`: its arguments) modelling at most `history` finished trials (_RecentTrials), with
    every running one (the constant liar).

    TPE's cost per suggestion grows with every finished trial it models (Optuna has no option to bound it); the
    study still holds every trial. TPE reads trials only through Study._get_trials inside TPESampler._sample: the
    override hands it a view of the study that returns the bounded list.
    """

    def __init__(self, history: int, **tpe):
        super().__init__(**tpe)
        self._history = history

    def _sample(self, study, trial, search_space):
        return super()._sample(_RecentTrials(study, self._history), trial, search_space)

"""The Optuna searcher of a sweep: Ray's OptunaSearch whose study mirrors `tuning report`.

Imported by tuning.search.searchers when a sweep uses the optuna searcher (it imports Ray and Optuna).
"""

import math

import optuna
from ray.tune.search.optuna import OptunaSearch

from tuning.compat import optuna as optuna_compat
from tuning.search import conditional
from tuning.search.pareto import objectives


class StudySearch(OptunaSearch):
    """OptunaSearch whose study tells what `tuning report` tells (README, "Searchers and schedulers").

    Every reported epoch is an intermediate value, the last one too (Tune hands the last result to
    on_trial_complete only); a trial that ended before its `budget(config)` (a scheduler stopped it)
    is PRUNED; a finished one COMPLETE with its value at `search.scope` (best or last epoch); an
    errored one FAIL. Each study trial carries the Tune trial id and the experiment as user
    attributes. Earlier experiments' trials (`warm_start`) are told first, the same way.

    With several objectives (search.metric a list) the study has one direction per metric and a
    trial's values are all metrics at the epoch the first metric's scope picks. Optuna refuses
    intermediate values for such trials (Trial.report), so every epoch's values go to the user
    attribute `epoch_values` ({"epoch": [one per metric]}) instead.
    """

    def __init__(self, search, warm_start=(), budget=None, experiment=None, **optuna_search):
        # Set before OptunaSearch.__init__, which sets up the study at once for a define-by-run space.
        self._search, self._warm_start, self._budget, self._experiment = search, tuple(warm_start), budget, experiment
        self._pairs = objectives(search)
        self._multi = len(self._pairs) > 1
        super().__init__(**optuna_search)

    def set_search_properties(self, metric, mode, config, **spec):
        # Tune passes TuneConfig's one metric (the scheduler's): the study keeps all the objectives.
        one = not self._multi
        return super().set_search_properties(metric if one else None, mode if one else None, config, **spec)

    def _setup_study(self, mode):
        super()._setup_study(mode)
        # a resumed study already holds them; points_to_evaluate were just enqueued (WAITING), nothing else
        if all(t.state == optuna.trial.TrialState.WAITING for t in self._ot_study.get_trials(deepcopy=False)):
            for point in self._warm_start:
                self._add_point(point.params, point.value, point.pruned, point.steps, {"warm_start": True})

    def _add_point(self, params, value, pruned, steps, attrs: dict):
        state = optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE
        if self._multi:
            attrs = {**attrs, "epoch_values": {str(at): v for at, v in steps}}
        dists = self._space if isinstance(self._space, dict) else conditional.distributions(self._search.space, params)
        self._ot_study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=None if self._multi else value,
                values=value if self._multi else None,
                params=params,
                distributions=dists,
                intermediate_values={} if self._multi else dict(steps),
                user_attrs=attrs,
            )
        )

    def suggest(self, trial_id):
        config = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and isinstance(config, dict):
            ot_trial.set_user_attr("tune_trial_id", trial_id)
            ot_trial.set_user_attr("experiment", self._experiment)
            self._publish()  # before Tune can save a state that names this trial
        return config

    def _publish(self):
        # A URI experiment's study is a live local file that publishes itself there (tuning.driver.study).
        publish = getattr(self._storage, "publish", None)
        if publish is not None:
            publish()

    def _adopt(self, trial_id) -> bool:
        """Whether the searcher knows `trial_id`, after taking it from the study if only the study does.

        Tune writes its trial list before the searcher's state: a driver killed while they were
        uploaded leaves a trial the restored searcher never proposed, but the study holds it (the
        trial's Tune id is on it)."""
        if trial_id not in self._ot_trials:
            stored = next(
                (
                    t
                    for t in self._ot_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                    if t.user_attrs.get("tune_trial_id") == trial_id
                ),
                None,
            )
            if stored is not None:
                self._ot_trials[trial_id] = optuna_compat.optuna_trial(self._ot_study, stored._trial_id)
        return trial_id in self._ot_trials

    def _steps(self, trial_id) -> dict:
        return self.__dict__.setdefault("_reported", {}).setdefault(trial_id, {})  # pickled with the searcher

    def _observed(self, result: dict):
        """The trial's value in a result (with several objectives a list, one per metric), or None."""
        if not self._multi:
            return result.get(self.metric)
        values = [result.get(metric) for metric, _ in self._pairs]
        return None if None in values else values

    def on_trial_result(self, trial_id, result):
        if not self._adopt(trial_id):
            return
        if self._observed(result) is not None:
            self._steps(trial_id)[result["training_iteration"]] = self._observed(result)
        # After `tuning resume`, a trial that ended after Tune's last snapshot runs on from its
        # checkpoint, but the study in optuna.db already holds it as finished: nothing to add.
        try:
            super().on_trial_result(trial_id, result)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass

    def on_trial_complete(self, trial_id, result=None, error=False):
        self._adopt(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None:
            return super().on_trial_complete(trial_id, result=result, error=error)  # Ray warns
        result = result or {}
        value, step = self._observed(result), result.get("training_iteration")
        steps = self._steps(trial_id)
        if value is not None and step not in steps and not error:
            steps[step] = value
        stored = self._ot_study._storage.get_trial(ot_trial._trial_id)
        pruned = (
            bool(steps)
            and self._budget is not None
            and result.get("ended_by") != "trainer"
            and (self._budget(result.get("config") or {}) or 0) > max(steps)
        )  # the report's stopped_early rule
        scored = self._at_scope(steps)
        if stored.state == optuna.trial.TrialState.FAIL:
            # An errored trial that `tuning resume` retried is FAIL in the stored study: keep that
            # record and add the retry's result as a trial of its own, so TPE learns from it.
            retried = self.__dict__.setdefault("_retried", set())  # pickled with the searcher
            if scored is not None and not error and trial_id not in retried:
                self._add_point(
                    stored.params,
                    scored,
                    pruned,
                    sorted(steps.items()),
                    {"tune_trial_id": trial_id, "experiment": self._experiment, "retried": True},
                )
                retried.add(trial_id)
        elif not stored.state.is_finished() and trial_id not in self._completed_trials:
            self._mirror_steps(ot_trial, stored, steps)
            if error or scored is None:
                self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
            elif pruned:
                self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
            else:
                self._ot_study.tell(ot_trial, scored)
        # else: finished before a resume, the study already says so
        self._completed_trials.add(trial_id)
        if not error:  # the study holds it now: kept here, the searcher would grow (and its every snapshot) per trial
            self._ot_trials.pop(trial_id, None)
            self.__dict__.get("_reported", {}).pop(trial_id, None)
        self._publish()  # before Tune can save a state that has this trial ended

    def _mirror_steps(self, ot_trial, stored, steps: dict):
        if self._multi:  # Trial.report is single-objective only
            ot_trial.set_user_attr("epoch_values", {str(at): v for at, v in sorted(steps.items())})
            return
        for at, reported in sorted(steps.items()):
            if at not in stored.intermediate_values:
                ot_trial.report(reported, at)

    def _at_scope(self, steps: dict):
        """The value at the scope's epoch; with several objectives all values at the epoch the first picks."""
        finite = [
            v
            for _, v in sorted(steps.items())
            if all(isinstance(x, (int, float)) and math.isfinite(x) for x in (v if self._multi else [v]))
        ]
        if not finite:
            return None
        if self._search.scope == "last":
            return finite[-1]
        first = (lambda v: v[0]) if self._multi else (lambda v: v)
        return (min if self._pairs[0][1] == "min" else max)(finite, key=first)

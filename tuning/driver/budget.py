"""Budgets and stop rules while a sweep runs (`search.budget`, `search.stop`; their schema: tuning.sweep.budget).

A sweep that has either gets a SweepBudget: a Tune Callback that accounts what the sweep spends (wall time over all
its runs, trials started, resource-hours as the report counts them: each trial's resources x its time) and judges
the stop rules as trials end (tuning.driver.stop_rules), and a Tune Stopper that then stops each running trial after
its current epoch (with budget.finish_running, none) and ends the sweep once none runs. No new trial starts after
that: the searcher is wrapped in a ClosableSearch that asks the budget first, and answers Tune that the search is
finished. The ending (which limit or rule, when, what was spent) goes to environment.json for the report.

Tune pickles all three with the experiment (tuning.stored). The limits are not taken from the pickle: each run or
resume reads them from the experiment's sweep.yaml as it starts, so `tuning resume --set search.budget.time=3h`
raises them, and an experiment of an earlier version (no budget, no SweepBudget) resumes as before.
"""

import collections
import statistics
import time
from datetime import datetime

from ray.tune import Callback, Stopper
from ray.tune.search import Searcher

from tuning.driver import stop_rules
from tuning.search.pareto import objectives
from tuning.sweep.budget import BudgetSpec, StopSpec, ending_text

FINAL = ("TERMINATED", "ERROR")
RULES = ("plateau", "regret")


def _seconds(run: dict) -> float:
    """How long a recorded run lasted (environment.json); 0 when it has no end (its driver was killed)."""
    try:
        return max(0.0, (datetime.fromisoformat(run["ended"]) - datetime.fromisoformat(run["started"])).total_seconds())
    except (KeyError, TypeError, ValueError):
        return 0.0


class ClosableSearch(Searcher):
    """The sweep's searcher, asked only while the budget lets a new trial start; after that Tune is told the search
    is finished. A wrapper as Tune's own ConcurrencyLimiter is (`searcher`): Tune saves the searcher's state as it
    would without it."""

    def __init__(self, searcher: Searcher, budget: "SweepBudget"):
        self.searcher, self.budget = searcher, budget
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_search_properties(self, metric, mode, config, **spec):
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id):
        if not self.budget.may_start():
            return Searcher.FINISHED
        config = self.searcher.suggest(trial_id)
        if config not in (None, Searcher.FINISHED):
            self.budget.started += 1
            self.budget.created.add(trial_id)  # Tune lists it from the next step on
        return config

    def on_trial_result(self, trial_id, result):
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def add_evaluated_point(self, *args, **kwargs):
        return self.searcher.add_evaluated_point(*args, **kwargs)

    def on_pause(self, trial_id):
        self.searcher.on_pause(trial_id)

    def on_unpause(self, trial_id):
        self.searcher.on_unpause(trial_id)

    def get_state(self) -> dict:
        return {}  # nothing of its own: whether it is closed is the budget's, judged afresh by each run

    def set_state(self, state: dict) -> None:
        pass

    def save(self, checkpoint_path: str):
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str):
        self.searcher.restore(checkpoint_path)


class SweepBudget(Callback, Stopper):
    """The sweep's budget and stop rules, enforced: see the module. `location`: the experiment (a Path or a URI);
    `resources`: the sweep's per-trial resources; `max_iterations`: stop a trial at that iteration (the schedulers
    that need Tune to end trials at their budget); `storage`: the Optuna study's storage (the regret rule reads
    it); `seed`: the regret bound's."""

    def __init__(self, location, resources, max_iterations=None, storage=None, seed=None):
        self.location, self.max_iterations, self.storage, self.seed = location, max_iterations, storage, seed
        workers = max(1, resources.workers)
        self.rates = {"gpu_hours": resources.gpu * workers / 3600, "cpu_hours": resources.cpu * workers / 3600}
        self._reset()

    def __getstate__(self):
        keep = ("location", "max_iterations", "storage", "seed", "rates")
        return {k: v for k, v in self.__dict__.items() if k in keep}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    def _reset(self):
        """What one run learns as it goes (not pickled: a resume counts it again from Tune's trials)."""
        self.budget = self.stop = None
        self.pairs, self.scope = [], "best"
        self.clock, self.before_s, self.rearm = time.monotonic(), 0.0, False
        self.started, self.times, self.values, self.finished = 0, {}, {}, []
        self.since = self.complete_since = self.judged = self.held = 0
        self.counted, self.ending, self.stopped, self.ended_s = False, None, [], None
        self.status, self.created, self.waiting = {}, set(), set()  # trial id -> Tune status, as of the last step
        self.epochs = collections.deque(maxlen=20)
        self.study, self.confirmations = None, ([], [])

    # -- setup: the limits of this run ------------------------------------------------------------------------

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info):
        from tuning.driver.environment import recorded_runs
        from tuning.expdir import ExpDir

        search = ExpDir(str(self.location)).sweep()["search"]
        self.budget = BudgetSpec.model_validate(search["budget"]) if search.get("budget") else None
        self.stop = StopSpec.model_validate(search["stop"]) if search.get("stop") else None
        self.pairs, self.scope = objectives(search), search.get("scope") or "best"
        runs = recorded_runs(self.location)  # the last is this run (tuning.driver.tuner.fit recorded it)
        self.before_s, self.clock = sum(_seconds(run) for run in runs[:-1]), time.monotonic()
        previous = runs[-2].get("ended_by") if len(runs) > 1 else None
        # a stop rule that ended the sweep counts afresh when a resume continues it (--more, a changed rule)
        self.rearm = isinstance(previous, dict) and previous.get("by") in RULES
        if self.stop and self.stop.regret:  # confirm reruns of this sweep or of those it warm-starts from
            local = [p for p in (str(self.location), *(search.get("warm_start") or [])) if "://" not in p]
            self.confirmations = stop_rules.confirmed_groups(local)

    # -- accounting -------------------------------------------------------------------------------------------

    def spent(self, digits: int | None = 9) -> dict:
        """What the sweep has spent so far: wall seconds over all its runs, trials started, resource-hours (these
        rounded to `digits` decimals; None: not rounded, for the comparisons)."""
        trial_s = sum(self.times.values())
        now = self.before_s + time.monotonic() - self.clock if self.ended_s is None else self.ended_s
        hours = {kind: trial_s * rate for kind, rate in self.rates.items()}
        if digits is not None:
            now, hours = round(now, 2), {kind: round(value, digits) for kind, value in hours.items()}
        return {"time_s": now, "trials": self.started, **hours}

    def _values(self, trial_id: str, result: dict) -> None:
        """Keep the trial's values at its scope's epoch (the report's rule) for the plateau rule."""
        values = [result.get(m) for m, _ in self.pairs]
        if not values or not all(stop_rules.finite(v) for v in values):
            return
        kept, (_, mode) = self.values.get(trial_id), self.pairs[0]
        if self.scope == "last" or kept is None or (values[0] < kept[0] if mode == "min" else values[0] > kept[0]):
            self.values[trial_id] = values

    def _restored(self, trial) -> list | None:
        """The values of a trial a resumed sweep finished before (Tune's running statistics of it)."""
        if len(self.pairs) > 1:
            values = [(trial.last_result or {}).get(m) for m, _ in self.pairs]
            return values if all(stop_rules.finite(v) for v in values) else None
        metric, mode = self.pairs[0]
        value = (trial.metric_analysis.get(metric) or {}).get(mode if self.scope == "best" else "last")
        return [value] if stop_rules.finite(value) else None

    def on_step_begin(self, iteration, trials, **info):
        if not self.counted:  # once, as the run starts: a resumed sweep's trials count (Tune lists them, restored)
            self.counted = True
            self.started = len(trials)
            for trial in trials:
                self.times[trial.trial_id] = (trial.last_result or {}).get("time_total_s") or 0.0
                if trial.status in FINAL:
                    self.finished.append(self._restored(trial))
            if self.rearm:
                self.since, self.complete_since = len(self.finished), len(self._complete())
        self.status = {t.trial_id: t.status for t in trials}
        self._check_spend()

    def on_step_end(self, iteration, trials, **info):
        self.status = {t.trial_id: t.status for t in trials}

    def __call__(self, trial_id, result) -> bool:
        """Tune's Stopper, on every result: account it; stop the trial at the scheduler's budget, or once the
        sweep's budget or a stop rule ended the sweep (after this, its current epoch)."""
        if stop_rules.finite(result.get("time_total_s")):
            self.times[trial_id] = result["time_total_s"]
        if stop_rules.finite(result.get("time_this_iter_s")):  # the recent epochs' times: how far ahead to look
            self.epochs.append(result["time_this_iter_s"])
        self._values(trial_id, result)
        self._check_spend()
        stop = bool(self.max_iterations and result.get("training_iteration", 0) >= self.max_iterations)
        if self.ending and self.ending["stops_running"]:
            if not stop and not result.get("done") and trial_id not in self.stopped:
                self.stopped.append(trial_id)
            stop = True
        if stop:  # Tune ends it now: stop_all need not wait for the next step's list to know
            self.status[trial_id] = "TERMINATED"
        return stop

    def stop_all(self) -> bool:
        """Tune's Stopper, every step: once the sweep was ended, it ends when the trials it waits for have (Tune then
        stops the others: pending ones never start)."""
        done = self.ending is not None and all(self.status.get(i, "PENDING") in FINAL for i in self.waiting)
        if done and self.ended_s is None:  # what it spent: up to here, not Tune's clean-up after
            self.ended_s = self.spent()["time_s"]
        return done

    # -- the limits and rules ---------------------------------------------------------------------------------

    def may_start(self) -> bool:
        """Whether a new trial may start now (ClosableSearch asks before each)."""
        self._check_spend()
        if self.ending is None and self.budget and self.budget.trials is not None:
            if self.started >= self.budget.trials:
                self._end("trials", self.budget.trials, stops_running=False)  # the running ones are within it
        return self.ending is None

    def _check_spend(self) -> None:
        """End the sweep when a time or compute limit would be passed by the rest of the running trials' current
        epochs: they stop after it. A trial is halfway through its epoch on average, so the look-ahead is half an
        epoch (the median of the last epochs reported), and the sweep ends at the limit on average, not past it."""
        if self.ending is not None or self.budget is None:
            return
        spent, compute = self.spent(None), self.budget.compute
        epoch = statistics.median(self.epochs) / 2 if self.epochs else 0.0
        running = sum(status == "RUNNING" for status in self.status.values())
        if self.budget.time is not None and spent["time_s"] + epoch >= self.budget.time:
            self._end("time", self.budget.time)
        for kind in ("gpu_hours", "cpu_hours"):
            limit = getattr(compute, kind) if compute else None
            if self.ending is None and limit is not None and spent[kind] + running * epoch * self.rates[kind] >= limit:
                self._end(kind, limit)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.status[trial.trial_id] = "TERMINATED"
        self.finished.append(self.values.get(trial.trial_id) or self._restored(trial))
        self._check_rules()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.status[trial.trial_id] = "ERROR"
        self.finished.append(None)
        self._check_rules()

    def _check_rules(self) -> None:
        if self.ending is not None or self.stop is None:
            return
        plateau = self.stop.plateau
        if plateau is not None:
            modes = [m for _, m in self.pairs]
            held = stop_rules.plateau(self.finished, modes, plateau.trials, plateau.min_delta, self.since)
            if held:
                return self._end("plateau", plateau.model_dump(), held)
        if self.stop.regret:
            self._check_regret()

    def _complete(self) -> list:
        """The study's COMPLETE trials, in the order they were created (warm-start points included)."""
        import optuna

        if self.storage is None:
            return []
        if self.study is None:
            self.study = optuna.load_study(study_name="tuning", storage=self.storage)
        return self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))

    def _check_regret(self) -> None:
        """Judge the regret rule once REGRET_MIN_TRIALS trials completed (since a resume that re-armed it), again
        as every 5% more complete (a Gaussian process fit each time: a fraction of a second)."""
        complete = self._complete()
        new = len(complete) - self.complete_since
        if new < stop_rules.REGRET_MIN_TRIALS or len(complete) < self.judged + max(1, self.judged // 20):
            return
        self.judged = len(complete)
        sigma, source = stop_rules.sigma(complete, self.confirmations)
        judged = stop_rules.regret(complete, self.pairs[0][1] == "min", sigma, self.seed)
        # twice in a row: one judgment alone can be a fit's accident (the bound moves by half its size from one
        # trial to the next: tests/benchmarks/stop_rules.py)
        self.held = self.held + 1 if judged["holds"] else 0
        if self.held >= stop_rules.REGRET_TIMES:
            self._end("regret", "auto", {**judged, "noise_from": source})

    def _end(self, by: str, limit, detail: dict | None = None, stops_running: bool | None = None) -> None:
        """The sweep ends: no new trial starts; running ones stop after their current epoch unless finish_running
        (or, for the trials budget, always: they are within it)."""
        finish = bool(self.budget and self.budget.finish_running)
        self.ending = {
            "by": by,
            "limit": limit,
            "at_s": self.spent()["time_s"],
            "finished": len(self.finished),
            "stops_running": (not finish) if stops_running is None else stops_running,
            **({"detail": detail} if detail else {}),
        }
        # what it waits for: the running trials (stopped after their epoch, or finishing); under the trials budget
        # also those created and not started yet: they are within it
        waits = ("RUNNING",) if by != "trials" else ("RUNNING", "PENDING", "PAUSED")
        self.waiting = {i for i, status in self.status.items() if status in waits}
        self.waiting |= {i for i in self.created if i not in self.status} if by == "trials" else set()
        then = (
            "running trials stop after their current epoch" if self.ending["stops_running"] else "running trials finish"
        )
        print(
            f"tuning: {by} {'rule held' if by in RULES else 'budget reached'}: no new trial starts; {then}", flush=True
        )

    def on_experiment_end(self, trials, **info):
        if self.ending is None:
            return
        from tuning.driver.environment import record_ending

        ending = {k: v for k, v in self.ending.items() if k != "stops_running"}
        ending.update(spent=self.spent(), stopped=list(self.stopped), finished=len(self.finished))
        record_ending(self.location, ending)
        print(ending_text(ending), flush=True)


def install(cfg, exp_dir, searcher, storage, stop):
    """The sweep's (searcher, stopper, callbacks) with its budget and stop rules enforced; as given without them.
    `stop`: the Tune stop criteria the sweep has without them (a scheduler's {"training_iteration": N}, or None)."""
    search = cfg.search
    if search.budget is None and search.stop is None:
        return searcher, stop, []
    seed = search.searcher.seed if search.searcher.seed is not None else cfg.run.seed
    budget = SweepBudget(exp_dir, cfg.resources, (stop or {}).get("training_iteration"), storage, seed)
    return ClosableSearch(searcher, budget), budget, [budget]

"""Search algorithms by name: each factory takes the sweep's search section and returns a Tune searcher."""

# Optuna sampler name -> factory(seed). TPE is multivariate (models parameters jointly) and uses the
# constant liar, so trials running in parallel are not proposed into the same region twice.
SAMPLERS = {
    "tpe": lambda optuna, seed: optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True),
    "cmaes": lambda optuna, seed: optuna.samplers.CmaEsSampler(seed=seed),
    "gp": lambda optuna, seed: optuna.samplers.GPSampler(seed=seed),
    "qmc": lambda optuna, seed: optuna.samplers.QMCSampler(seed=seed, scramble=True),
    "random": lambda optuna, seed: optuna.samplers.RandomSampler(seed=seed),
}


def _optuna(search, seed: int, storage=None, warm_start=(), max_concurrent=None):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    class WarmOptunaSearch(OptunaSearch):
        """OptunaSearch whose new study is first told the results of earlier experiments."""

        def _setup_study(self, mode):
            super()._setup_study(mode)
            if not self._ot_study.trials:  # a resumed study already holds them
                for params, value in warm_start:
                    self.add_evaluated_point(params, value)

        def on_trial_result(self, trial_id, result):
            # After `tuning resume`, a trial that ended after Tune's last snapshot runs on from its
            # checkpoint, but the study in optuna.db already holds it as finished: nothing to add.
            try:
                super().on_trial_result(trial_id, result)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass

        def on_trial_complete(self, trial_id, result=None, error=False):
            # An errored trial that `tuning resume` retried is FAIL in the stored study: keep that
            # record and add the retry's result as a trial of its own, so TPE learns from it.
            ot_trial = self._ot_trials.get(trial_id)
            stored = ot_trial and self._ot_study._storage.get_trial(ot_trial._trial_id)
            value = (result or {}).get(self.metric)
            if stored and stored.state == optuna.trial.TrialState.FAIL and value is not None and not error:
                retried = self.__dict__.setdefault("_retried", set())  # pickled with the searcher
                if trial_id not in retried:
                    self.add_evaluated_point(stored.params, value)
                    retried.add(trial_id)
                return
            super().on_trial_complete(trial_id, result=result, error=error)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return WarmOptunaSearch(
        metric=search.metric, mode=search.mode, sampler=SAMPLERS[search.searcher.sampler](optuna, seed),
        points_to_evaluate=search.searcher.points_to_evaluate or None, storage=storage,
        study_name="tuning" if storage else None)


def _variants(search, seed: int, storage=None, warm_start=(), max_concurrent=None):
    from ray.tune.search.basic_variant import BasicVariantGenerator

    # Tune drops TuneConfig.max_concurrent_trials for a ready-made generator: it must carry the limit.
    return BasicVariantGenerator(random_state=seed, points_to_evaluate=search.searcher.points_to_evaluate or None,
                                 max_concurrent=max_concurrent or 0)


SEARCHERS = {"optuna": _optuna, "random": _variants, "grid": _variants}


def make_searcher(search, seed: int, storage=None, warm_start=(), max_concurrent=None):
    """The Tune search algorithm named by `search.searcher.name`, seeded (searcher.seed wins over `seed`).

    `storage`: an Optuna storage object (Ray's OptunaSearch takes no URL) for the study; `warm_start`: (params, value) pairs
    of earlier trials that a model-based searcher learns from before proposing anything; `max_concurrent`:
    trials at once (Tune applies it to Optuna itself, not to the variant generator).
    """
    name = search.searcher.name
    if name not in SEARCHERS:
        raise ValueError(f"unknown searcher '{name}'; available: {', '.join(SEARCHERS)}")
    seed = search.searcher.seed if search.searcher.seed is not None else seed
    return SEARCHERS[name](search, seed, storage=storage, warm_start=warm_start, max_concurrent=max_concurrent)

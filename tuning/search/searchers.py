"""Search algorithms by name: each factory takes the sweep's search section and returns a Tune searcher."""

import functools

from tuning.search import conditional
from tuning.sweep.space import grid_size, is_conditional

# Optuna sampler name -> factory(seed). TPE is multivariate (models parameters jointly) and uses the
# constant liar, so trials running in parallel are not proposed into the same region twice.
SAMPLERS = {
    "tpe": lambda optuna, seed: _tpe(optuna, seed),
    "cmaes": lambda optuna, seed: optuna.samplers.CmaEsSampler(seed=seed),
    "gp": lambda optuna, seed: optuna.samplers.GPSampler(seed=seed),
    "qmc": lambda optuna, seed: optuna.samplers.QMCSampler(seed=seed, scramble=True),
    "random": lambda optuna, seed: optuna.samplers.RandomSampler(seed=seed),
    # NSGA-II: the genetic algorithm for several objectives (Optuna's default population of 50).
    "nsga2": lambda optuna, seed: _nsga2(seed),
}


def _tpe(optuna, seed, group: bool = False, history: int | None = None):
    """The TPE sampler. `group`: for a conditional space, multivariate TPE models each set of keys sampled
    together, where the default falls back to independent sampling for every key outside the intersection
    of all trials. `history`: model at most that many finished trials (tuning.compat.optuna.BoundedTPESampler)."""
    import warnings

    from tuning.compat.optuna import BoundedTPESampler

    tpe = {"seed": seed, "multivariate": True, "constant_liar": True} | ({"group": True} if group else {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # group
        if history is None:
            return optuna.samplers.TPESampler(**tpe)
        return BoundedTPESampler(history, **tpe)


def _nsga2(seed):
    from tuning.compat.optuna import PicklableNSGAIISampler

    return PicklableNSGAIISampler(seed=seed)


def _optuna(search, seed: int, storage=None, warm_start=(), max_concurrent=None, budget=None, experiment=None):
    import optuna

    from tuning.compat.study_search import StudySearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    conditional_space, space = is_conditional(search.space), None
    if search.searcher.sampler == "tpe":
        sampler = _tpe(optuna, seed, group=conditional_space, history=search.searcher.history)
    else:
        sampler = SAMPLERS[search.searcher.sampler](optuna, seed)
    if conditional_space:  # define-by-run: each trial suggests only its chosen branches' keys
        space = functools.partial(conditional.define_by_run, search.space)  # picklable, with the searcher
    return StudySearch(
        search, warm_start=warm_start, budget=budget, experiment=experiment,
        metric=search.metric, mode=search.mode, sampler=sampler, space=space,
        points_to_evaluate=search.searcher.points_to_evaluate or None, storage=storage,
        study_name="tuning" if storage else None)


def _variants(search, seed: int, storage=None, warm_start=(), max_concurrent=None, budget=None, experiment=None):
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if is_conditional(search.space):  # Tune's variant generator has no conditional domains
        as_grid = search.searcher.name == "grid"
        return conditional.branch_search(search.space, as_grid, search.num_samples * grid_size(search.space, as_grid),
                                         seed, search.searcher.points_to_evaluate)
    # Tune drops TuneConfig.max_concurrent_trials for a ready-made generator: it must carry the limit.
    return BasicVariantGenerator(random_state=seed, points_to_evaluate=search.searcher.points_to_evaluate or None,
                                 max_concurrent=max_concurrent or 0)


SEARCHERS = {"optuna": _optuna, "random": _variants, "grid": _variants}


def make_searcher(search, seed: int, storage=None, warm_start=(), max_concurrent=None, budget=None,
                  experiment=None):
    """The Tune search algorithm named by `search.searcher.name`, seeded (searcher.seed wins over `seed`).

    `storage`: an Optuna storage object (Ray's OptunaSearch takes no URL) for the study; `warm_start`: points
    (tuning.run.warm_start) of earlier trials that a model-based searcher learns from before proposing anything;
    `max_concurrent`: trials at once (Tune applies it to Optuna itself, not to the variant generator);
    `budget`: a trial's config -> the epochs it runs unless stopped (a picklable callable); `experiment`:
    the experiment's path, kept on each study trial.
    """
    name = search.searcher.name  # one of SEARCHERS: the sweep's schema takes its names from there
    seed = search.searcher.seed if search.searcher.seed is not None else seed
    return SEARCHERS[name](search, seed, storage=storage, warm_start=warm_start, max_concurrent=max_concurrent,
                           budget=budget, experiment=experiment)

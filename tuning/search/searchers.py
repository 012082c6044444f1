"""Search algorithms and Optuna samplers by name: one entry each, its factory and what the rest of tuning asks of it.

The sweep schema takes its names from here (SEARCHER_NAMES, SAMPLER_NAMES) and the sweep's checks, the driver
and `tuning resume` ask an entry's capabilities, never its name. Nothing here imports Ray or Optuna: a factory
imports its library when it is called (as Ray Tune's own tune/search/__init__.py does), so the schema and its
checks read the registries without them.
"""

import functools
from dataclasses import dataclass
from typing import Callable

from tuning.search import conditional
from tuning.sweep.space import grid_size, is_conditional


@dataclass(frozen=True)
class Sampler:
    """An Optuna sampler (search.searcher.sampler): its factory and what the sweep's checks ask of it."""

    factory: Callable  # (optuna, seed, group=False, history=None) -> an Optuna sampler
    multi_objective: bool = True  # optimizes several objectives at once (cmaes: one only)
    bounded_history: bool = False  # search.searcher.history bounds the finished trials its model sees


def _tpe(optuna, seed, group: bool = False, history: int | None = None):
    """The TPE sampler: multivariate (models parameters jointly), with the constant liar, so trials running in
    parallel are not proposed into the same region twice. `group`: for a conditional space, multivariate TPE
    models each set of keys sampled together, where the default falls back to independent sampling for every key
    outside the intersection of all trials. `history`: model at most that many finished trials
    (tuning.compat.optuna.BoundedTPESampler)."""
    import warnings

    from tuning.compat.optuna import BoundedTPESampler

    tpe = {"seed": seed, "multivariate": True, "constant_liar": True} | ({"group": True} if group else {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # group
        if history is None:
            return optuna.samplers.TPESampler(**tpe)
        return BoundedTPESampler(history, **tpe)


def _nsga2(optuna, seed, group: bool = False, history: int | None = None):
    """NSGA-II, the genetic algorithm for several objectives (Optuna's default population of 50), picklable."""
    from tuning.compat.optuna import PicklableNSGAIISampler

    return PicklableNSGAIISampler(seed=seed)


SAMPLERS = {
    "tpe": Sampler(_tpe, bounded_history=True),
    "cmaes": Sampler(lambda optuna, seed, **_: optuna.samplers.CmaEsSampler(seed=seed), multi_objective=False),
    "gp": Sampler(lambda optuna, seed, **_: optuna.samplers.GPSampler(seed=seed)),
    "qmc": Sampler(lambda optuna, seed, **_: optuna.samplers.QMCSampler(seed=seed, scramble=True)),
    "random": Sampler(lambda optuna, seed, **_: optuna.samplers.RandomSampler(seed=seed)),
    "nsga2": Sampler(_nsga2),
}


@dataclass(frozen=True)
class Searcher:
    """A search algorithm (search.searcher.name): its factory and what the rest of tuning asks of it."""

    factory: Callable  # (search, seed, storage, warm_start, max_concurrent, budget, experiment) -> a Tune searcher
    learns_from_results: bool  # model-based: warm starts feed it, and it would fight pbt's own exploration
    takes_sampler: bool  # search.searcher.sampler (and its history) picks the Optuna sampler it runs
    keeps_study: bool  # its Optuna study lives in the experiment's optuna.db
    can_extend: bool  # `tuning resume --more` adds trials: the study knows what was tried
    accepts_grid: bool  # takes grid entries in the space (expanded, as Tune's variant generator does)
    as_grid: bool = False  # every choice is a grid entry too: the sweep runs the whole grid, num_samples times


def _optuna(search, seed: int, storage=None, warm_start=(), max_concurrent=None, budget=None, experiment=None):
    import optuna

    from tuning.compat.study_search import StudySearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    conditional_space, space = is_conditional(search.space), None
    sampler = SAMPLERS[search.searcher.sampler].factory(
        optuna, seed, group=conditional_space, history=search.searcher.history
    )
    if conditional_space:  # define-by-run: each trial suggests only its chosen branches' keys
        space = functools.partial(conditional.define_by_run, search.space)  # picklable, with the searcher
    return StudySearch(
        search,
        warm_start=warm_start,
        budget=budget,
        experiment=experiment,
        metric=search.metric,
        mode=search.mode,
        sampler=sampler,
        space=space,
        points_to_evaluate=search.searcher.points_to_evaluate or None,
        storage=storage,
        study_name="tuning" if storage else None,
    )


def _variants(search, seed: int, storage=None, warm_start=(), max_concurrent=None, budget=None, experiment=None):
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from tuning.search.branch_search import BranchSearch

    if is_conditional(search.space):  # Tune's variant generator has no conditional domains
        as_grid = SEARCHERS[search.searcher.name].as_grid
        return BranchSearch(
            search.space,
            as_grid,
            search.num_samples * grid_size(search.space, as_grid),
            seed,
            search.searcher.points_to_evaluate,
        )
    # Tune drops TuneConfig.max_concurrent_trials for a ready-made generator: it must carry the limit.
    return BasicVariantGenerator(
        random_state=seed,
        points_to_evaluate=search.searcher.points_to_evaluate or None,
        max_concurrent=max_concurrent or 0,
    )


SEARCHERS = {
    "optuna": Searcher(
        _optuna, learns_from_results=True, takes_sampler=True, keeps_study=True, can_extend=True, accepts_grid=False
    ),
    "random": Searcher(
        _variants,
        learns_from_results=False,
        takes_sampler=False,
        keeps_study=False,
        can_extend=False,
        accepts_grid=True,
    ),
    "grid": Searcher(
        _variants,
        learns_from_results=False,
        takes_sampler=False,
        keeps_study=False,
        can_extend=False,
        accepts_grid=True,
        as_grid=True,
    ),
}

# What the sweep schema (tuning.sweep.config) accepts: the names alone.
SEARCHER_NAMES = tuple(SEARCHERS)
SAMPLER_NAMES = tuple(SAMPLERS)


def make_searcher(search, seed: int, storage=None, warm_start=(), max_concurrent=None, budget=None, experiment=None):
    """The Tune search algorithm named by `search.searcher.name`, seeded (searcher.seed wins over `seed`).

    `storage`: an Optuna storage object (Ray's OptunaSearch takes no URL) for the study; `warm_start`: points
    (tuning.driver.warm_start) of earlier trials that a model-based searcher learns from before proposing anything;
    `max_concurrent`: trials at once (Tune applies it to Optuna itself, not to the variant generator);
    `budget`: a trial's config -> the epochs it runs unless stopped (a picklable callable); `experiment`:
    the experiment's path, kept on each study trial.
    """
    seed = search.searcher.seed if search.searcher.seed is not None else seed
    return SEARCHERS[search.searcher.name].factory(
        search,
        seed,
        storage=storage,
        warm_start=warm_start,
        max_concurrent=max_concurrent,
        budget=budget,
        experiment=experiment,
    )

"""Search algorithms by name: each factory takes the sweep's search section and returns a Tune searcher."""


def _optuna(search, seed: int):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearch(metric=search.metric, mode=search.mode, sampler=optuna.samplers.TPESampler(seed=seed))


def _random(search, seed: int):
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed)


SEARCHERS = {"optuna": _optuna, "random": _random}


def make_searcher(search, seed: int):
    """The Tune search algorithm named by `search.searcher.name`, seeded."""
    name = search.searcher.name
    if name not in SEARCHERS:
        raise ValueError(f"unknown searcher '{name}'; available: {', '.join(SEARCHERS)}")
    return SEARCHERS[name](search, search.searcher.seed if search.searcher.seed is not None else seed)

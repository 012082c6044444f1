"""Rules across the sections of a sweep: what one section may hold given another.

Each section's own shape is checked by its schema in tuning.sweep.config; a rule here sees the whole validated
sweep (searcher with scheduler, space with searcher, points with space, ...) and returns the first
problem as one message that names the key, or None.
"""

from tuning.errors import did_you_mean
from tuning.search.registry import either, names_with
from tuning.search.schedulers import SCHEDULERS
from tuning.search.searchers import SAMPLERS, SEARCHERS
from tuning.sweep import space as space_mod


def combination_problem(cfg) -> str | None:
    """What is wrong with the sweep as a whole (a tuning.sweep.config.SweepConfig), or None."""
    from tuning.search.synthetic import sweep_problem

    for rule in (
        sweep_problem,
        _lr_scheduler_problem,
        _history_problem,
        _objectives_problem,
        _budget_problem,
        _space_problem,
        _mutation_problem,
        _warm_start_problem,
        _points_problem,
        _mapping_problem,
    ):
        problem = rule(cfg)
        if problem:
            return problem
    return None


def _lr_scheduler_problem(cfg) -> str | None:
    if cfg.lr_scheduler is not None and cfg.optimizer is None:
        return "lr_scheduler: needs an optimizer entry as well (LightningCLI builds the scheduler on it)"
    return None


def _sampler(searcher):
    """The Optuna sampler entry the sweep's searcher runs, or None for a searcher that runs none."""
    return SAMPLERS[searcher.sampler] if SEARCHERS[searcher.name].takes_sampler else None


def _history_problem(cfg) -> str | None:
    searcher = cfg.search.searcher
    sampler = _sampler(searcher)
    if searcher.history is not None and not (sampler and sampler.bounded_history):
        uses = f"{searcher.name} with sampler {searcher.sampler}" if sampler else searcher.name
        return (
            f"search.searcher.history: bounds the {either(names_with(SAMPLERS, bounded_history=True))} sampler's "
            f"model; this sweep uses {uses}"
        )
    return None


def _objectives_problem(cfg) -> str | None:
    """Several objectives: a scheduler that compares trials on one number names it; what cannot take several."""
    from tuning.search.pareto import objectives

    search = cfg.search
    metrics, sched = [m for m, _ in objectives(search)], search.scheduler
    if sched.metric is not None and sched.metric not in metrics:
        return (
            f"search.scheduler.metric: '{sched.metric}' is not one of search.metric ({', '.join(metrics)})"
            f"{did_you_mean(sched.metric, metrics)}"
        )
    if len(metrics) == 1:
        return None
    if SCHEDULERS[sched.name].compares_one_metric and sched.metric is None:
        return (
            f"search.scheduler.metric: {sched.name} compares trials on one number, and this sweep has "
            f"{len(metrics)} objectives ({', '.join(metrics)}): name the one it compares, e.g. "
            f"search.scheduler.metric: {metrics[0]}, or use search.scheduler.name: "
            f"{either(names_with(SCHEDULERS, compares_one_metric=False))}"
        )
    sampler = _sampler(search.searcher)
    if sampler and not sampler.multi_objective:
        return (
            f"search.searcher.sampler: {search.searcher.sampler} optimizes one objective; with several use "
            f"{either(names_with(SAMPLERS, multi_objective=True))}"
        )
    if search.warm_start:
        return "search.warm_start: not with several objectives yet (warm starts carry one value per trial)"
    return None


def _budget_problem(cfg) -> str | None:
    sched = cfg.search.scheduler
    if SCHEDULERS[sched.name].needs_budget and not isinstance(cfg.max_epochs, int):
        return f"search.scheduler: {sched.name} needs an epoch budget: set trainer.max_epochs or search.scheduler.max_t"
    return None


def _space_problem(cfg) -> str | None:
    """The space's entries against the searcher: grid entries need a searcher that takes them; a searcher that runs
    the whole grid needs finite sets."""
    search = cfg.search
    problem = _conditional_problem(search)
    if problem:
        return problem
    name, searcher, space = search.searcher.name, SEARCHERS[search.searcher.name], search.space
    every, paths = space_mod.flat_domains(space, merge=False), space_mod.key_paths(space)
    grids = [k for k, d in every.items() if d.kind == "grid"]
    if not searcher.accepts_grid and grids:
        return (
            f"search.space.{paths[grids[0]]}: grid works with searcher "
            f"{either(names_with(SEARCHERS, accepts_grid=True))}, not {name}; use choice with {name}, or set "
            f"search.searcher.name: {either(names_with(SEARCHERS, as_grid=True))}"
        )
    not_grid = [k for k, d in every.items() if d.kind not in ("grid", "choice")]
    if searcher.as_grid and not_grid:
        return (
            f"search.space.{paths[not_grid[0]]}: searcher {name} needs grid or choice entries, "
            f"got {every[not_grid[0]].kind}"
        )
    return None


def _mutations(search) -> dict:
    """The keys the scheduler mutates, as its section lists them ({} for one that mutates nothing)."""
    return search.scheduler.mutations if SCHEDULERS[search.scheduler.name].mutates else {}


def _conditional_problem(search) -> str | None:
    """What a conditional choice cannot do with the sweep's searcher or scheduler (its `search` section), or None."""
    conditional = [k for k, d in search.space.items() if d.branches]
    mutated = [k for k, d in _mutations(search).items() if d.branches]
    sched, searcher = search.scheduler.name, SEARCHERS[search.searcher.name]
    if mutated:
        return f"search.scheduler.mutations.{mutated[0]}: {sched} mutates plain entries, not a conditional choice"
    if not conditional:
        return None
    if SCHEDULERS[sched].mutates and not _mutations(search):
        return (
            f"search.space.{conditional[0]}: {sched} mutates one fixed set of keys and a conditional choice "
            "changes them; list search.scheduler.mutations"
        )
    if searcher.accepts_grid and not searcher.as_grid:
        paths = space_mod.key_paths(search.space)
        nested = [
            k
            for k, d in space_mod.flat_domains(search.space, merge=False).items()
            if d.kind == "grid" and k not in search.space
        ]
        if nested:
            return (
                f"search.space.{paths[nested[0]]}: a grid inside a conditional choice needs searcher "
                f"{either(names_with(SEARCHERS, as_grid=True))} (searcher {search.searcher.name} samples the "
                "choice); use choice here"
            )
    return None


def _mutation_problem(cfg) -> str | None:
    """A scheduler that mutates trials explores by itself, next to a searcher that does not learn, on plain entries."""
    sched, searcher = cfg.search.scheduler, cfg.search.searcher.name
    if not SCHEDULERS[sched.name].mutates:
        return None
    if SEARCHERS[searcher].learns_from_results:
        return (
            f"search.scheduler: {sched.name} explores by itself and works with searcher "
            f"{either(names_with(SEARCHERS, learns_from_results=False))}, not {searcher}"
        )
    mutations = sched.mutations or cfg.search.space
    if not mutations:
        return f"search.scheduler.mutations: {sched.name} needs something to mutate: a search.space or mutations"
    bad = [k for k, d in mutations.items() if d.kind == "grid"]
    if bad:
        return f"search.scheduler.mutations.{bad[0]}: {sched.name} cannot mutate a grid entry; use choice"
    return None


def _warm_start_problem(cfg) -> str | None:
    searcher = cfg.search.searcher.name
    if cfg.search.warm_start and not SEARCHERS[searcher].learns_from_results:
        return (
            f"search.warm_start: needs searcher {either(names_with(SEARCHERS, learns_from_results=True))} "
            f"(a {searcher} searcher does not learn from results)"
        )
    return None


def _points_problem(cfg) -> str | None:
    """Each of points_to_evaluate names keys of the space (of the branches it chooses), inside their domains."""
    space = cfg.search.space
    paths = space_mod.key_paths(space)
    for i, point in enumerate(cfg.search.searcher.points_to_evaluate):
        reach = space_mod.active(space, point)  # with a conditional choice: the branches the point chooses
        unknown = [k for k in point if k not in reach]
        if unknown:
            return (
                f"search.searcher.points_to_evaluate[{i}].{unknown[0]}: not a key of search.space"
                f"{' on the branches this point chooses' if unknown[0] in paths else ''}"
                f"{did_you_mean(unknown[0], reach)}; keys: {', '.join(reach)}"
            )
        outside = [k for k, v in point.items() if not reach[k].contains(v)]
        if outside:
            domain = reach[outside[0]]
            return (
                f"search.searcher.points_to_evaluate[{i}].{outside[0]}: {point[outside[0]]!r} is outside its "
                f"space entry {{{domain.kind}: {list(domain.args)}}}"
            )
    return None


def _mapping_problem(cfg) -> str | None:
    """A space key sets a value inside a mapping of model/data/trainer, never inside a plain value."""
    space = cfg.search.space
    every, paths = space_mod.flat_domains(space, merge=False), space_mod.key_paths(space)
    sections = cfg.model_dump(include=set(space_mod.TRIAL_SECTIONS))
    for key in every:
        parts, node = key.split("."), sections
        for depth, part in enumerate(parts[:-1]):
            node = node.get(part)
            if not isinstance(node, dict):
                break
        if node is not None and not isinstance(node, dict):
            return (
                f"search.space.{paths[key]}: '{'.'.join(parts[: depth + 1])}' is {node!r}, not a mapping; "
                "a space key can only set a value inside a mapping"
            )
    return None

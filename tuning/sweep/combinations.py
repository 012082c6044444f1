"""Rules across the sections of a sweep: what one section may hold given another.

Each section's own shape is checked by its schema in tuning.sweep.config; a rule here sees the whole validated
sweep (searcher with scheduler, space with searcher, points with space, ...) and returns the first
problem as one message that names the key, or None.
"""

from tuning.sweep import space as space_mod
from tuning.errors import did_you_mean


def combination_problem(cfg) -> str | None:
    """What is wrong with the sweep as a whole (a tuning.sweep.config.SweepConfig), or None."""
    from tuning.search.synthetic import sweep_problem

    for rule in (sweep_problem, _lr_scheduler_problem, _history_problem, _objectives_problem, _budget_problem,
                 _space_problem, _pbt_problem, _warm_start_problem, _points_problem, _mapping_problem):
        problem = rule(cfg)
        if problem:
            return problem
    return None


def _lr_scheduler_problem(cfg) -> str | None:
    if cfg.lr_scheduler is not None and cfg.optimizer is None:
        return "lr_scheduler: needs an optimizer entry as well (LightningCLI builds the scheduler on it)"
    return None


def _history_problem(cfg) -> str | None:
    searcher = cfg.search.searcher
    if searcher.history is not None and (searcher.name, searcher.sampler) != ("optuna", "tpe"):
        return (f"search.searcher.history: bounds the tpe sampler's model; this sweep uses "
                f"{searcher.name if searcher.name != 'optuna' else 'optuna with sampler ' + searcher.sampler}")
    return None


def _objectives_problem(cfg) -> str | None:
    """Several objectives: a scheduler that compares trials on one number names it; what cannot take several."""
    from tuning.search.pareto import objectives

    search = cfg.search
    metrics, sched = [m for m, _ in objectives(search)], search.scheduler
    if sched.metric is not None and sched.metric not in metrics:
        return (f"search.scheduler.metric: '{sched.metric}' is not one of search.metric ({', '.join(metrics)})"
                f"{did_you_mean(sched.metric, metrics)}")
    if len(metrics) == 1:
        return None
    if sched.name != "fifo" and sched.metric is None:
        return (f"search.scheduler.metric: {sched.name} compares trials on one number, and this sweep has "
                f"{len(metrics)} objectives ({', '.join(metrics)}): name the one it compares, e.g. "
                f"search.scheduler.metric: {metrics[0]}, or use search.scheduler.name: fifo")
    if search.searcher.name == "optuna" and search.searcher.sampler == "cmaes":
        return "search.searcher.sampler: cmaes optimizes one objective; with several use nsga2, tpe, gp, qmc or random"
    if search.warm_start:
        return "search.warm_start: not with several objectives yet (warm starts carry one value per trial)"
    return None


def _budget_problem(cfg) -> str | None:
    sched = cfg.search.scheduler
    if sched.name in ("asha", "hyperband") and not isinstance(cfg.max_epochs, int):
        return f"search.scheduler: {sched.name} needs an epoch budget: set trainer.max_epochs or search.scheduler.max_t"
    return None


def _space_problem(cfg) -> str | None:
    """The space's entries against the searcher: grid entries need random or grid; grid needs finite sets."""
    search = cfg.search
    problem = space_mod.conditional_problem(search)
    if problem:
        return problem
    searcher, space = search.searcher.name, search.space
    every, paths = space_mod.flat_domains(space, merge=False), space_mod.key_paths(space)
    grids = [k for k, d in every.items() if d.kind == "grid"]
    if searcher == "optuna" and grids:
        return (f"search.space.{paths[grids[0]]}: grid works with searcher random or grid, not optuna; "
                "use choice with optuna, or set search.searcher.name: grid")
    not_grid = [k for k, d in every.items() if d.kind not in ("grid", "choice")]
    if searcher == "grid" and not_grid:
        return (f"search.space.{paths[not_grid[0]]}: searcher grid needs grid or choice entries, "
                f"got {every[not_grid[0]].kind}")
    return None


def _pbt_problem(cfg) -> str | None:
    sched, searcher = cfg.search.scheduler, cfg.search.searcher.name
    if sched.name != "pbt":
        return None
    if searcher == "optuna":
        return "search.scheduler: pbt explores by itself and works with searcher random or grid, not optuna"
    mutations = sched.mutations or cfg.search.space
    if not mutations:
        return "search.scheduler.mutations: pbt needs something to mutate: a search.space or mutations"
    bad = [k for k, d in mutations.items() if d.kind == "grid"]
    if bad:
        return f"search.scheduler.mutations.{bad[0]}: pbt cannot mutate a grid entry; use choice"
    return None


def _warm_start_problem(cfg) -> str | None:
    searcher = cfg.search.searcher.name
    if cfg.search.warm_start and searcher != "optuna":
        return f"search.warm_start: needs searcher optuna (a {searcher} searcher does not learn from results)"
    return None


def _points_problem(cfg) -> str | None:
    """Each of points_to_evaluate names keys of the space (of the branches it chooses), inside their domains."""
    space = cfg.search.space
    paths = space_mod.key_paths(space)
    for i, point in enumerate(cfg.search.searcher.points_to_evaluate):
        reach = space_mod.active(space, point)  # with a conditional choice: the branches the point chooses
        unknown = [k for k in point if k not in reach]
        if unknown:
            return (f"search.searcher.points_to_evaluate[{i}].{unknown[0]}: not a key of search.space"
                    f"{' on the branches this point chooses' if unknown[0] in paths else ''}"
                    f"{did_you_mean(unknown[0], reach)}; keys: {', '.join(reach)}")
        outside = [k for k, v in point.items() if not reach[k].contains(v)]
        if outside:
            domain = reach[outside[0]]
            return (f"search.searcher.points_to_evaluate[{i}].{outside[0]}: {point[outside[0]]!r} is outside its "
                    f"space entry {{{domain.kind}: {list(domain.args)}}}")
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
            return (f"search.space.{paths[key]}: '{'.'.join(parts[:depth + 1])}' is {node!r}, not a mapping; "
                    "a space key can only set a value inside a mapping")
    return None

"""The baseline: the sweep's base configuration run as its first trial, so the report can say what the search
bought over the configuration the user started from (README, "The baseline first").

The base configuration is what model, data and trainer hold before the space is applied: each searched key's
value in the sweep file, else its class's default (read from source, else from the imported class: the driver
imports the sweep's classes anyway). The point is decided once, as a sweep starts; environment.json records it
(or why there is none), so the report never derives it again and never imports user code.
"""

import ast
import inspect
import sys

from tuning.errors import UserError
from tuning.sweep import flavour
from tuning.sweep.space import Domain, canonical_parts, grid_size, is_conditional

_MISSING = object()  # a key neither the sweep file nor a class default gives a value


def base_point(cfg, dist: str = flavour.DEFAULT) -> tuple[dict | None, str | None]:
    """(the base configuration's value of every key it samples, None) or (None, why there is no baseline).

    `cfg`: the validated sweep (search.baseline on); `dist`: its Lightning distribution (the Trainer's defaults).
    """
    from tuning.search.schedulers import SCHEDULERS
    from tuning.search.searchers import SEARCHERS

    search = cfg.search
    if not search.space:
        return None, "search.space is empty, so every trial runs the base configuration"
    if SCHEDULERS[search.scheduler.name].mutates:
        return None, f"{search.scheduler.name} changes trials' values as they run, so no trial measures the base one"
    if is_conditional(search.space) and grid_size(search.space, SEARCHERS[search.searcher.name].as_grid) > 1:
        return None, "a grid over a conditional choice runs its own points, in its own order"
    point = {}
    problem = _fill(search.space, cfg.to_dict(), dist, point)
    return (None, problem) if problem else (point, None)


def _fill(space: dict[str, Domain], tree: dict, dist: str, point: dict) -> str | None:
    """Add the base value of each key `space` samples (and of the branch each conditional choice takes) to
    `point`; what stops it (a key without a base value, a value outside its entry), or None."""
    for key, domain in space.items():
        value = base_value(tree, key, dist)
        if value is _MISSING:
            return f"{key} has no base value (the sweep file gives none, nor does a class default)"
        if not domain.contains(value):
            return f"the base value of {key}, {value!r}, is outside its space entry {domain.to_spec()}"
        point[key] = value
        if domain.branches:
            problem = _fill(domain.branch(value), tree, dist, point)
            if problem:
                return problem
    return None


def base_value(tree: dict, key: str, dist: str = flavour.DEFAULT):
    """The value at a dotted space key in the sweep's sections (`tree`: the resolved sweep as data), else the
    default of the class whose argument it is (a class_path or Hydra _target_ node, the Trainer for trainer.*);
    _MISSING when neither has one."""
    parts = canonical_parts(tree, key)
    node, owner = tree, None  # owner: (index in parts of the nearest class node on the way, its class path)
    for i, part in enumerate(parts):
        target = node.get("class_path") or node.get("_target_") if isinstance(node, dict) else None
        if isinstance(target, str):
            owner = (i, target)
        node = _child(node, part)
        if node is _MISSING:
            break
    else:
        return node
    if parts[0] == "trainer" and len(parts) == 2:
        return class_default("nested", f"{dist}.Trainer", parts[1])
    if owner is None:
        return _MISSING
    at, class_path = owner
    rest = parts[at:]
    if rest not in (["init_args", parts[-1]], [parts[-1]]):  # not an argument of that very class
        return _MISSING
    section = parts[0] if at == 1 and parts[0] in ("model", "data") else "nested"
    return class_default(section, class_path, parts[-1])


def _child(node, part: str):
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return _MISSING


def class_default(section: str, class_path: str, arg: str):
    """The default of constructor argument `arg` of a class (a registry name of `section` or a dotted path), as a
    plain value: read from source where it can be, else from the imported class; _MISSING when it has none."""
    from tuning.sweep.class_paths import split_path

    split = split_path(section, class_path)
    found = _source_default(*split, arg) if split else _MISSING
    return found if found is not _MISSING else _imported_default(section, class_path, arg)


def _source_default(module: str, name: str, arg: str):
    """A literal default of `arg` in the class's own `__init__`, read with `ast`; _MISSING when the source cannot
    tell (an inherited or decorated `__init__`, a default that is an expression)."""
    from tuning.sweep import signatures

    ref = signatures.resolve(module, [name])
    if not isinstance(ref, signatures.ClassRef) or ref.node.decorator_list:
        return _MISSING
    init = signatures.bindings(ref.node.body).get("__init__")
    if not isinstance(init, ast.FunctionDef) or init.decorator_list:
        return _MISSING
    args = init.args
    positional = args.posonlyargs + args.args
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults) :]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    try:
        return ast.literal_eval(defaults[arg]) if arg in defaults else _MISSING
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING


def _imported_default(section: str, class_path: str, arg: str):
    from tuning.sweep.class_paths import resolve_class

    try:
        parameter = inspect.signature(resolve_class(section, class_path)).parameters.get(arg)
    except (UserError, ValueError, TypeError):
        return _MISSING
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return _MISSING
    default = parameter.default
    return default if default is None or isinstance(default, (bool, int, float, str)) else _MISSING


def first_in_search(search, point: dict):
    """The search section the Tuner gets: the baseline's point first among points_to_evaluate (it is one of
    num_samples, the searcher learns from it as from any trial). A grid entry instead lists the baseline's value
    first, and the point holds only the other keys: Tune's variant generator would run a point that fixes a grid
    entry in place of a whole pass over the grid, so the first pass starts with the baseline and the grid keeps
    its size."""
    from tuning.search.searchers import SEARCHERS

    as_grid = SEARCHERS[search.searcher.name].as_grid
    grid = {k for k, d in search.space.items() if d.kind == "grid" or (as_grid and d.kind == "choice")}
    space = {
        key: Domain(d.kind, (point[key], *(a for a in d.args if a != point[key])), d.branches) if key in grid else d
        for key, d in search.space.items()
    }
    first = {k: v for k, v in point.items() if k not in grid}
    given = list(search.searcher.points_to_evaluate)
    if first == point and point in given:  # the user's own point of the base configuration is the baseline
        given.remove(point)  # (once: the config runs as often as listed)
    searcher = search.searcher.model_copy(update={"points_to_evaluate": ([first] if first else []) + given})
    return search.model_copy(update={"space": space, "searcher": searcher})


def decide(cfg, dist: str = flavour.DEFAULT) -> dict | None:
    """The sweep's baseline as environment.json records it: {"config": point}, or {"config": None, "reason": why};
    None with search.baseline off. Says once, on stderr, which it is."""
    if not getattr(cfg.search, "baseline", False):  # a SearchSpec pickled before the field existed has none
        return None
    point, why = base_point(cfg, dist)
    if point is None:
        print(f"baseline: none, {why} (search.baseline: false leaves it out)", file=sys.stderr, flush=True)
        return {"config": None, "reason": why}
    values = ", ".join(f"{k.rsplit('.', 1)[-1]}={v!r}" for k, v in point.items())
    print(f"baseline: the first trial runs the base configuration ({values})", file=sys.stderr, flush=True)
    return {"config": point}

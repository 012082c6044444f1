"""Search-space entries: parsed and checked from the sweep file, then turned into Ray Tune domains.

A space maps a dotted key of `model`, `data` or `trainer` to a one-key mapping:
`{loguniform: [1.0e-4, 1.0e-1]}`, `{choice: [32, 64]}`, `{quniform: [0.0, 0.5, 0.1]}`, ...
A conditional choice maps each value to a sub-space sampled only with it:
`{choice: {adam: {model.init_args.lr: {...}}, sgd: {...}}}`, nested up to MAX_DEPTH deep.
"""

from dataclasses import dataclass
from typing import Any

# objective.*: only with an objective section; optimizer.*, lr_scheduler.*: LightningCLI's sections
SECTIONS = ("model", "data", "trainer", "objective", "optimizer", "lr_scheduler")
TRIAL_SECTIONS = ("model", "data", "trainer", "optimizer", "lr_scheduler")  # what a trial's params are applied to

# kind -> (number of bounds, whether a step `q` follows the bounds)
_RANGES = {
    "uniform": (2, False),
    "loguniform": (2, False),
    "randint": (2, False),
    "quniform": (2, True),
    "qloguniform": (2, True),
}
_LISTS = ("choice", "grid")
KINDS = tuple(_RANGES) + _LISTS


@dataclass(frozen=True)
class Domain:
    """One searched parameter: its kind and arguments, already checked."""

    kind: str
    args: tuple
    branches: tuple = ()  # a conditional choice: the sub-space (key -> Domain) of each value in args, in order

    def branch(self, value) -> dict:
        """The sub-space sampled with `value` of a conditional choice ({} for a plain domain)."""
        return self.branches[self.args.index(value)] if self.branches and value in self.args else {}

    def to_spec(self) -> dict:
        """The entry as written in a sweep file."""
        if self.branches:
            return {"choice": {v: {k: d.to_spec() for k, d in b.items()} for v, b in zip(self.args, self.branches)}}
        return {self.kind: list(self.args)}

    def to_tune(self):
        """The equivalent Ray Tune domain (imports ray)."""
        from ray import tune

        if self.kind == "choice":
            return tune.choice(list(self.args))
        if self.kind == "grid":
            return tune.grid_search(list(self.args))
        return getattr(tune, self.kind)(*self.args)

    def contains(self, value) -> bool:
        """Whether `value` is one this domain can produce (bounds of q-domains included)."""
        if self.kind in _LISTS:
            return value in self.args
        if not is_number(value):
            return False
        low, high = self.args[0], self.args[1]
        return low <= value < high if self.kind == "randint" else low <= value <= high

    @property
    def size(self):
        """Number of distinct values for choice and grid, else None."""
        return len(self.args) if self.kind in _LISTS else None


def parse_domain(spec: Any) -> Domain:
    """Check one space entry; raise ValueError with a message saying what is allowed."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(f"must be a mapping with one key, one of {', '.join(KINDS)}; got {spec!r}")
    kind, args = next(iter(spec.items()))
    if kind not in KINDS:
        from tuning.errors import did_you_mean

        raise ValueError(f"unknown kind '{kind}'{did_you_mean(kind, KINDS)}; allowed: {', '.join(KINDS)}")
    if not isinstance(args, list) or not args:
        raise ValueError(f"{kind} needs a non-empty list, got {args!r}")
    if kind in _LISTS:
        return Domain(kind, tuple(args))
    return Domain(kind, _check_range(kind, args))


def _check_range(kind: str, args: list) -> tuple:
    n_bounds, has_q = _RANGES[kind]
    expected = n_bounds + has_q
    shape = "[low, high, q]" if has_q else "[low, high]"
    if len(args) != expected or not all(is_number(a) for a in args):
        raise ValueError(f"{kind} needs {shape} as numbers, got {args!r}")
    low, high = args[0], args[1]
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        raise ValueError(f"randint needs integer bounds, got {args!r}")
    if low >= high:
        raise ValueError(f"{kind} needs low < high, got low={low}, high={high}")
    if "log" in kind and low <= 0:
        raise ValueError(f"{kind} needs low > 0, got low={low}")
    if has_q and args[2] <= 0:
        raise ValueError(f"{kind} needs q > 0, got q={args[2]}")
    return tuple(args)


def is_number(value) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_key(key: str) -> None:
    """A space key must be a dotted path into model, data, trainer (or objective, checked by
    tuning.search.synthetic)."""
    head, _, rest = key.partition(".")
    if head not in SECTIONS or not rest:
        raise ValueError(
            f"key '{key}' must be a dotted path starting with one of {', '.join(SECTIONS)}, "
            "e.g. model.init_args.lr or trainer.gradient_clip_val"
        )


def to_param_space(space: dict[str, Domain], as_grid: bool = False) -> dict:
    """The Tuner's param_space: flat, keyed by the same dotted keys as the sweep file.

    `as_grid` turns choice entries into grid entries (the grid searcher tries every combination).
    A conditional space has none: its searcher samples it (tuning.search.searchers), as Tune's domains cannot.
    """
    if is_conditional(space):
        return {}
    return {
        key: Domain("grid", d.args).to_tune() if as_grid and d.kind == "choice" else d.to_tune()
        for key, d in space.items()
    }


def grid_size(space: dict[str, Domain], as_grid: bool = False) -> int:
    """How many grid points the space expands to (1 without grid entries)."""
    import math

    def size(d: Domain) -> int:  # a conditional choice expands every branch: the sum of the branches' grids
        if d.branches and as_grid:
            return sum(grid_size(b, as_grid) for b in d.branches)
        return d.size if d.kind == "grid" or (as_grid and d.kind == "choice") else 1

    return math.prod(size(d) for d in space.values())


def apply_params(sections: dict, params: dict) -> dict:
    """A copy of `sections` (model/data/trainer) with each dotted key set to its sampled value."""
    import copy

    out = copy.deepcopy(sections)
    for key, value in params.items():
        set_path(out, key, value)
    return out


CLASS_KEYS = ("class_path", "init_args", "dict_kwargs", "cli_form")  # a class_path entry's own keys


def canonical_parts(tree: dict, key: str) -> list[str]:
    """The parts of a dotted key into `tree`, with `init_args` where a class_path entry's argument is named
    without it: `model.lr` is `model.init_args.lr`, `model.init_args.backbone.width` is
    `model.init_args.backbone.init_args.width`, as LightningCLI's command line reads `--model.lr`."""
    parts, node = [], tree
    for part in key.split("."):
        if isinstance(node, dict) and ("class_path" in node or "init_args" in node) and part not in CLASS_KEYS:
            parts.append("init_args")
            node = node.get("init_args")
        parts.append(part)
        node = _child(node, part)
    return parts


def _child(node, part: str):
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


def set_path(tree: dict, key: str, value) -> None:
    """Set a dotted key (canonical_parts' reading; a number indexes a list) in nested data, making mappings
    on the way; ValueError naming the part that is neither a mapping nor a list."""
    parts = canonical_parts(tree, key)
    node = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if last:
                node[int(part)] = value
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            node = node.setdefault(part, {}) if not last else None
        else:
            raise ValueError(f"'{'.'.join(parts[:i])}' is not a mapping, cannot set '{part}' inside it")


# --- conditional spaces -------------------------------------------------------------------------------------


def is_conditional(space: dict[str, Domain]) -> bool:
    """Whether any entry is a conditional choice."""
    return any(d.branches for d in space.values())


MAX_DEPTH = 32  # conditional choices inside conditional choices: far above a real space, far below Python's stack


def parse_space(value, at: str = "") -> tuple[dict[str, Domain], list[tuple[str, str]]]:
    """Dotted key -> Domain, and (key path, message) for every bad entry, inside branches too.

    A path through a branch reads `model.init_args.optimizer.choice.sgd.model.init_args.momentum`.
    """
    if not isinstance(value, dict):
        return {}, [(at.removesuffix("."), f"must be a mapping of dotted key -> domain, got {value!r}")]
    parsed, problems = {}, []
    for key, spec in value.items():
        path = f"{at}{key}"
        try:
            check_key(str(key))
            if isinstance(spec, dict) and len(spec) == 1 and isinstance(spec.get("choice"), dict):
                if at.count(".choice.") >= MAX_DEPTH:
                    raise ValueError(f"conditional choices nest at most {MAX_DEPTH} deep")
                parsed[str(key)], inner = _parse_branches(spec["choice"], f"{path}.choice.")
                problems += inner
            else:
                parsed[str(key)] = parse_domain(spec)
        except ValueError as exc:
            problems.append((path, str(exc)))
    if not at:
        problems += _clashes(parsed, {}, "")
    return parsed, problems


def _parse_branches(mapping: dict, at: str) -> tuple[Domain, list]:
    if not mapping:
        raise ValueError("a conditional choice needs at least one value -> sub-space")
    values, branches, problems = [], [], []
    for value, sub in mapping.items():
        parsed, inner = parse_space({} if sub is None else sub, f"{at}{value}.")
        values.append(value)
        branches.append(parsed)
        problems += inner
    return Domain("choice", tuple(values), tuple(branches)), problems


def _clashes(space: dict[str, Domain], above: dict[str, str], at: str) -> list[tuple[str, str]]:
    """A key searched twice on one path through the branches; one key in sibling branches as two kinds."""
    problems = []
    level = {**above, **{key: f"{at}{key}" for key in space}}
    for key, domain in space.items():
        if key in above:
            problems.append(
                (
                    f"{at}{key}",
                    f"already searched at search.space.{above[key]}; a key is searched "
                    "once on any path through the branches",
                )
            )
        seen = {}  # key -> (domain, path) over this choice's branches
        for value, branch in zip(domain.args, domain.branches):
            where = f"{at}{key}.choice.{value}."
            problems += _clashes(branch, level, where)
            for sub_key, sub in flat_domains(branch, merge=False).items():
                first = seen.setdefault(sub_key, (sub, f"{where}{sub_key}"))
                if first[0].kind != sub.kind or (sub.kind in _LISTS and first[0].args != sub.args):
                    problems.append(
                        (
                            f"{where}{sub_key}",
                            f"{_spec_text(sub)} here but {_spec_text(first[0])} at "
                            f"search.space.{first[1]}; a key in several branches keeps its kind (and "
                            "its values for choice), its range may differ",
                        )
                    )
    return problems


def _spec_text(d: Domain) -> str:
    return d.kind if d.kind not in _LISTS else f"{d.kind} {list(d.args)}"


def flat_domains(space: dict[str, Domain], merge: bool = True) -> dict[str, Domain]:
    """Every key any branch may sample -> its domain; a conditional choice as a plain choice of its values.

    A key in several branches spans them all (`merge`): the widest range (for the report's axes and
    importance), else the first branch's.
    """
    out = {}
    for key, d in space.items():
        for k, sub in [(key, Domain(d.kind, d.args))] + [kv for b in d.branches for kv in flat_domains(b).items()]:
            if k in out and merge and out[k].kind in _RANGES and sub.kind == out[k].kind:
                low, high = min(out[k].args[0], sub.args[0]), max(out[k].args[1], sub.args[1])
                sub = Domain(sub.kind, (low, high, *out[k].args[2:]))
            elif k in out:
                continue
            out[k] = sub
    return out


def key_paths(space: dict[str, Domain], at: str = "") -> dict[str, str]:
    """Every key any branch may sample -> the path of its first entry (as errors name it)."""
    out = {}
    for key, d in space.items():
        out.setdefault(key, f"{at}{key}")
        for value, branch in zip(d.args, d.branches):
            for k, path in key_paths(branch, f"{at}{key}.choice.{value}.").items():
                out.setdefault(k, path)
    return out


def active(space: dict[str, Domain], config: dict) -> dict[str, Domain]:
    """The entries a config with these values samples: the top level, then each chosen value's branch."""
    out = {}
    for key, d in space.items():
        out[key] = d
        if d.branches and key in config:
            out.update(active(d.branch(config[key]), config))
    return out


def flat_specs(space: dict) -> dict:
    """A sweep.yaml space (as written) with its branches flattened: key -> spec, every key any branch samples.

    For readers of an experiment (the report): an entry it cannot parse stays as written."""
    try:
        parsed, problems = parse_space(space)
    except (TypeError, ValueError):
        return dict(space)
    if problems or not is_conditional(parsed):
        return dict(space)
    return {k: d.to_spec() for k, d in flat_domains(parsed).items()}


def always_sampled(space: dict[str, Domain]) -> set[str]:
    """The keys every config samples: the top level, and those every branch of a conditional choice samples."""
    keys = set(space)
    for d in space.values():
        if d.branches:
            keys |= set.intersection(*(always_sampled(b) for b in d.branches))
    return keys


def conditional_keys(space: dict) -> list[str]:
    """Keys of a sweep.yaml space that only some branches sample (absent from other trials)."""
    try:
        parsed, problems = parse_space(space)
    except (TypeError, ValueError):
        return []
    return [] if problems else [k for k in flat_domains(parsed) if k not in always_sampled(parsed)]


def describe(space: dict[str, Domain], indent: str = "") -> list[str]:
    """The space as an indented tree, a line per entry and per value of a conditional choice."""
    lines = []
    for key, d in space.items():
        if not d.branches:
            lines.append(f"{indent}{key}: {d.kind} {list(d.args)}")
            continue
        lines.append(f"{indent}{key}: choice of {len(d.args)}, each with its own keys")
        for value, branch in zip(d.args, d.branches):
            lines.append(f"{indent}  = {value!r}:" + ("" if branch else " (no more keys)"))
            lines += describe(branch, indent + "    ")
    return lines

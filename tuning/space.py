"""Search-space entries: parsed and checked from the sweep file, then turned into Ray Tune domains.

A space maps a dotted key of `model`, `data` or `trainer` to a one-key mapping:
`{loguniform: [1.0e-4, 1.0e-1]}`, `{choice: [32, 64]}`, `{quniform: [0.0, 0.5, 0.1]}`, ...
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
    """A space key must be a dotted path into model, data, trainer (or objective, checked by tuning.synthetic)."""
    head, _, rest = key.partition(".")
    if head not in SECTIONS or not rest:
        raise ValueError(f"key '{key}' must be a dotted path starting with one of {', '.join(SECTIONS)}, "
                         "e.g. model.init_args.lr or trainer.gradient_clip_val")


def to_param_space(space: dict[str, Domain], as_grid: bool = False) -> dict:
    """The Tuner's param_space: flat, keyed by the same dotted keys as the sweep file.

    `as_grid` turns choice entries into grid entries (the grid searcher tries every combination).
    """
    return {key: Domain("grid", d.args).to_tune() if as_grid and d.kind == "choice" else d.to_tune()
            for key, d in space.items()}


def grid_size(space: dict[str, Domain], as_grid: bool = False) -> int:
    """How many grid points the space expands to (1 without grid entries)."""
    import math

    return math.prod(d.size for d in space.values() if d.kind == "grid" or (as_grid and d.kind == "choice"))


def apply_params(sections: dict, params: dict) -> dict:
    """A copy of `sections` (model/data/trainer) with each dotted key set to its sampled value."""
    import copy

    out = copy.deepcopy(sections)
    for key, value in params.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out

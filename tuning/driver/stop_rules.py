"""The stop rules of `search.stop` as plain functions over what the driver saw (tuning.driver.budget calls them).

plateau: the best value (several objectives: the hypervolume of the Pareto front) improved by no more than
min_delta over the last N finished trials. regret: Optuna's Terminator criterion (Makarova et al., 2022): its
RegretBoundEvaluator bounds how much better than the best so far the space can still be (a Gaussian process on the
study's finished trials), and the sweep stops when that bound is below the trial-to-trial noise, the statistical
error no search can get under. The noise of one trial's value, sigma, is measured, in this order: the spread of a
config's `tuning confirm` reruns (of this sweep, or of an experiment it warm-starts from), the spread of configs the
sweep ran more than once, and otherwise each finished trial's scatter around its own trend over its last epochs (see
`epoch_scatter`). Trial to trial, two runs of one config differ by sqrt(2) sigma: that is the threshold, and it is
where Optuna's own error evaluator puts it for a trial whose value is the mean of k cross-validation folds
(CrossValidationErrorEvaluator: sqrt(1/k + 1/(k-1)) x the folds' spread, which is sqrt(1 + k/(k-1)) ~ sqrt(2) x the
spread of the mean). Against sigma alone the bound, itself widened by that noise, would seldom fall below it.
"""

import math
import statistics
import warnings
from pathlib import Path

from tuning.search.pareto import hypervolume_2d

# COMPLETE trials before the regret rule judges. Optuna's evaluator fits its process to the better half of the trials
# but never to fewer than 20 (top_trials_ratio 0.5, min_n_trials 20): below 40 it fits them all, the mediocre start
# included, and may take the space for flat (tests/benchmarks/stop_rules.py measured stops at trial 20-25 there that
# a few trials later no longer held, at a final best far from the full run's).
REGRET_MIN_TRIALS = 40
REGRET_TIMES = 2  # the rule holds at this many judgments in a row before the sweep stops


def finite(value) -> bool:
    """A real, finite number (not bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _best(values: list, mode: str):
    scored = [v for v in values if finite(v)]
    return (min if mode == "min" else max)(scored) if scored else None


def hypervolume(points: list, modes: list, reference: list) -> float:
    """The volume the points dominate up to `reference` (any number of objectives); points not strictly better than
    the reference in every objective add nothing. Two objectives: tuning.search.pareto.hypervolume_2d."""
    if len(modes) == 2:
        return hypervolume_2d(points, modes, reference)
    signs = [1 if m == "min" else -1 for m in modes]
    ref = [s * r for s, r in zip(signs, reference)]
    inside = [
        [s * x for s, x in zip(signs, p)]
        for p in points
        if p is not None and all(map(finite, p)) and all(s * x < r for s, x, r in zip(signs, p, ref))
    ]
    return _slices(inside, ref)


def _slices(points: list, ref: list) -> float:
    """Minimization: the volume by slices along the last objective (exact; fine for the fronts a sweep holds)."""
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    ordered = sorted(points, key=lambda p: p[-1])
    volume = 0.0
    for i, point in enumerate(ordered):
        upper = ordered[i + 1][-1] if i + 1 < len(ordered) else ref[-1]
        if upper > point[-1]:
            volume += (upper - point[-1]) * _slices([p[:-1] for p in ordered[: i + 1]], ref[:-1])
    return volume


def plateau(values: list, modes: list, window: int, min_delta: float, since: int = 0) -> dict | None:
    """Whether the search stopped improving, as the detail the report shows, or None.

    `values`: per finished trial, in the order they finished, its objective values (a list, one per objective) or
    None (errored, no finite value). The rule holds when at least `window` trials finished after the first `since`
    (a rule that ended the sweep before counts afresh on resume), one with values finished before the window, and
    the best (several objectives: the front's hypervolume, with the worst value seen in each objective as its
    reference) improved by no more than `min_delta` over the window.
    """
    if len(values) - since < window or len(values) <= window:
        return None
    before, now = values[:-window], values
    if len(modes) == 1:
        old, new = _best([v[0] for v in before if v], modes[0]), _best([v[0] for v in now if v], modes[0])
        if old is None:
            return None
        gain, measure = (old - new) if modes[0] == "min" else (new - old), "best"
    else:
        points = [v for v in now if v and all(map(finite, v))]
        if not any(v and all(map(finite, v)) for v in before):
            return None
        reference = [(max if m == "min" else min)(p[i] for p in points) for i, m in enumerate(modes)]
        old, new = hypervolume(before, modes, reference), hypervolume(now, modes, reference)
        gain, measure = new - old, "hypervolume"
    if gain > min_delta:
        return None
    return {"measure": measure, "before": old, "now": new, "improvement": gain, "finished": len(values)}


def pooled_std(groups: list[list[float]]) -> tuple[float | None, int]:
    """The pooled sample standard deviation of groups of repeated measurements (groups of one add nothing), and
    how many groups it pools; None when no group has two finite values. Exact: reruns that all gave one value
    spread by 0, not by the rounding of their float mean (1e-16, which `sigma` would take for measured noise)."""
    groups = [[v for v in g if finite(v)] for g in groups]
    groups = [g for g in groups if len(g) >= 2]
    dof = sum(len(g) - 1 for g in groups)
    if not dof:
        return None, 0
    squares = sum(statistics.variance(g) * (len(g) - 1) for g in groups)  # variance: in exact fractions
    return math.sqrt(squares / dof), len(groups)


def epoch_scatter(curves: list[list[float]]) -> float | None:
    """The median, over trials, of the scatter of a trial's last epochs around their straight-line trend.

    The noise of a metric a trial reports epoch after epoch, once its curve has flattened, is the noise of the
    evaluation itself (the validation estimate, the last steps' jitter), which a rerun with another seed shows too;
    a rerun also draws another initialisation and data order, so this is a lower bound of the seed noise, and the
    regret rule stops no earlier with it than with the seed noise measured. Trials of at least 4 epochs count,
    over their last quarter (4 epochs at least).
    """
    scatters = []
    for curve in curves:
        tail = [v for v in curve if finite(v)]
        tail = tail[-max(4, len(tail) // 4) :] if len(tail) >= 4 else []
        if tail:
            xs = range(len(tail))
            mx, my = statistics.fmean(xs), statistics.fmean(tail)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, tail)) / sum((x - mx) ** 2 for x in xs)
            residuals = [y - my - slope * (x - mx) for x, y in zip(xs, tail)]
            scatters.append(math.sqrt(sum(r * r for r in residuals) / (len(tail) - 2)))
    return statistics.median(scatters) if scatters else None


def confirmed_groups(experiments: list[str]) -> tuple[list[list[float]], list[str]]:
    """The rerun values of each config of the `tuning confirm` experiments of `experiments` (local paths), and those
    confirmation experiments. They are found next to each experiment: directories whose confirm.json names it (its
    reruns are the trials of each config it lists, as tuning.driver.confirm ranks them)."""
    from tuning.expdir import ExpDir
    from tuning.report import load_report

    groups, found = [], []
    for experiment in experiments:
        source = Path(experiment).expanduser().resolve()
        try:
            siblings = [d for d in source.parent.iterdir() if d.name.startswith(source.name) and d != source]
        except OSError:
            continue
        for candidate in sorted(siblings):
            try:
                link = ExpDir(str(candidate), shallow=True).json("confirm.json") or {}  # bounded, regular files only
                if not isinstance(link, dict) or link.get("source") != str(source):
                    continue
                trials = load_report(str(candidate)).trials
                configs = [entry["config"] for entry in link["configs"]]
            except Exception:  # noqa: BLE001 - an unreadable confirmation is no noise estimate, not an error
                continue
            groups += [[t.metric for t in trials if t.config == config and finite(t.metric)] for config in configs]
            found.append(str(candidate))
    return groups, found


def sigma(complete: list, confirmations: tuple[list, list]) -> tuple[float | None, str]:
    """The noise of one trial's value among the study's COMPLETE trials, and where it was measured (see the
    module); None when nothing measures it."""
    groups, found = confirmations
    std, count = pooled_std(groups)
    if std:
        return std, f"tuning confirm reruns of {count} configs ({', '.join(found)})"
    repeats: dict = {}
    for trial in complete:
        repeats.setdefault(tuple(sorted((k, repr(v)) for k, v in trial.params.items())), []).append(trial.value)
    std, count = pooled_std(list(repeats.values()))
    if std:
        return std, f"{count} configs the sweep ran more than once"
    scatter = epoch_scatter([[v for _, v in sorted(t.intermediate_values.items())] for t in complete])
    if scatter:
        return scatter, "the scatter of each finished trial's last epochs around their trend"
    return None, "unknown: no reruns, repeated configs or trials of 4 epochs and more to measure it on"


def regret(complete: list, minimize: bool, sigma: float | None, seed: int | None) -> dict:
    """Optuna's Terminator criterion on the study's COMPLETE trials: the regret bound, the trial-to-trial noise
    (sqrt(2) x `sigma`, one trial's noise: see the module), and whether the bound is below it (`holds`)."""
    import optuna
    from optuna.terminator import RegretBoundEvaluator

    direction = optuna.study.StudyDirection.MINIMIZE if minimize else optuna.study.StudyDirection.MAXIMIZE
    with warnings.catch_warnings():  # experimental since Optuna 3.2; the module is deprecated (removal in 6.0)
        warnings.simplefilter("ignore")
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # a kernel fit that falls back to its defaults
        bound = RegretBoundEvaluator(min_n_trials=REGRET_MIN_TRIALS, seed=seed).evaluate(complete, direction)
    noise = None if sigma is None else math.sqrt(2) * sigma
    holds = noise is not None and bool(bound < noise)
    return {"regret_bound": float(bound), "noise": noise, "sigma": sigma, "holds": holds, "finished": len(complete)}

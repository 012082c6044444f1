"""Hyperparameter importance with Optuna's evaluators, on a study rebuilt in memory from the report.

Every trial with a finite ranked metric becomes a completed Optuna trial whose distributions
come from the sweep's search space, whichever searcher ran the sweep. A key of a conditional choice's
branch is absent from the trials that did not choose it (not a value): Optuna's evaluators then rank
the keys every trial sampled, and the note names the others.
"""

import json
import math
import warnings

from tuning.report.load import Report, finite
from tuning.sweep.space import parse_domain

EVALUATORS = ("fanova", "ped_anova")
MIN_TRIALS = 4  # below this the evaluators' forests and quantiles mean nothing


def _plain(value):
    """Optuna's categorical values must be None, bool, int, float or str."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def _domains(space: dict) -> dict:
    """The entries of the space that parse: one this version cannot read (a newer kind, a hand edit) is left
    out of the study rather than failing the report."""
    out = {}
    for key, spec in space.items():
        try:
            out[key] = parse_domain(spec)
        except ValueError:
            continue
    return out


def distributions(space: dict, observed: dict[str, list]) -> dict:
    """Optuna distributions for the sweep's space; numeric bounds widen to cover observed values."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, domain in _domains(space).items():
        values = [v for v in observed.get(key, []) if finite(v)]
        if domain.kind in ("choice", "grid"):
            out[key] = CategoricalDistribution([_plain(v) for v in domain.args])
            continue
        low, high = min([domain.args[0], *values]), max([domain.args[1], *values])
        if domain.kind == "randint":
            # Tune's randint excludes `high`; Optuna's IntDistribution includes it.
            out[key] = IntDistribution(int(low), int(max(high - 1, low)))
        else:
            out[key] = FloatDistribution(float(low), float(high), log="log" in domain.kind)
    return out


def build_study(report: Report):
    """An in-memory Optuna study holding one completed trial per trial with a finite metric."""
    import optuna

    always = set(report.space) - set(report.conditional)  # every trial has these; a branch's keys only some
    scored = [t for t in report.trials if finite(t.metric) and always <= set(t.config)]
    observed = {key: [t.config[key] for t in scored if key in t.config] for key in report.space}
    dists = distributions(report.space, observed)
    study = optuna.create_study(direction="minimize" if report.mode == "min" else "maximize")
    for trial in scored:
        params = {k: _plain(v) if hasattr(dists[k], "choices") else v for k, v in trial.config.items() if k in dists}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions={k: dists[k] for k in params}, value=trial.metric)
        )
    return study


def _evaluator(name: str):
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if name == "fanova":
        # Optuna's default forest (64 trees, depth 64) takes ~30 s on 1000 trials; 32 trees of depth 8
        # rank the same parameters on our studies in about a second.
        return FanovaImportanceEvaluator(n_trees=32, max_depth=8, seed=0)
    return PedAnovaImportanceEvaluator()


def importance(report: Report, evaluators=EVALUATORS) -> dict:
    """`{"fanova": {param: share}, "ped_anova": {...}, "trials": n}`, or a `note` saying why there is none."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = build_study(report)
    except ValueError as exc:  # a value Optuna refuses in its distribution: the report goes on without
        return {"trials": 0, "note": f"not computed: {exc}"}
    count = len(study.get_trials(deepcopy=False))  # `study.trials` deep-copies every trial (0.1 s per 1000)
    out = {"trials": count}
    if not report.space:
        return {**out, "note": "the sweep searched no parameters"}
    if count < MIN_TRIALS:
        return {**out, "note": f"needs at least {MIN_TRIALS} trials with a finite {report.metric}"}
    for name in evaluators:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                scores = optuna.importance.get_param_importances(study, evaluator=_evaluator(name))
            except (RuntimeError, ValueError) as exc:  # e.g. every trial has the same value
                out[name] = {}
                out.setdefault("note", f"{name}: {exc}")
                continue
        out[name] = {k: round(float(v), 4) if math.isfinite(v) else None for k, v in scores.items()}
    if report.conditional:
        out.setdefault("note", f"not ranked, sampled by only some branches: {', '.join(report.conditional)}")
    return out

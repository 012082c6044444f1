"""Per-trial callbacks and profilers: the user's callbacks built, early stopping, profiling.

`trainer.callbacks` follows LightningCLI: `[{class_path, init_args}]`, where a bare name
(`LearningRateMonitor`) means a class of the sweep's Lightning distribution (tuning.sweep.flavour);
resolving and checking them is tuning.sweep.classes' work, done before the sweep starts. A progress bar is
dropped from every trial (the driver says so once).
"""

import json
import os

from tuning.errors import UserError, describe_exception
from tuning.sweep import flavour

PROFILE_FILE = "profile"  # Lightning writes <trial>/<stage>-profile.txt
PROFILE_SUMMARY_FILE = "profile_summary.json"


def is_progress_bar(cls: type) -> bool:
    """Whether a callback class is a progress bar (of either Lightning distribution)."""
    dist = flavour.of_class(cls, "callback")
    return bool(dist) and issubclass(cls, flavour.module(dist).callbacks.ProgressBar)


def _entries(dist: str, trainer: dict):
    """(key path, class, init_args) of each `trainer.callbacks` entry."""
    from tuning.sweep.classes import resolve_callback

    for i, spec in enumerate(trainer.get("callbacks") or []):
        where = f"trainer.callbacks[{i}]"
        yield where, resolve_callback(spec["class_path"], f"{where}.class_path", dist), spec.get("init_args") or {}


def _early_stopping(dist: str, trial: dict, search: dict):
    """The EarlyStopping of `trial.early_stopping`, or None."""
    stop = trial.get("early_stopping")
    if not stop:
        return None
    from tuning.search.pareto import objectives

    metric, mode = objectives(search)[0]  # with several objectives, the first unless monitor says
    return flavour.module(dist).callbacks.EarlyStopping(
        monitor=stop["monitor"] or metric,
        patience=stop["patience"],
        mode=stop["mode"] or mode,
        min_delta=stop["min_delta"],
    )


def build_callbacks(dist: str, trainer: dict, trial: dict, search: dict) -> list:
    """The user's callbacks, less progress bars, plus EarlyStopping when `trial.early_stopping` is set."""
    # A trial's Trainer has enable_progress_bar=False (Lightning refuses a progress bar with it): many trials
    # share one console, and the driver said before the sweep that the bar is dropped (check_trial_callbacks).
    built = [cls(**args) for _, cls, args in _entries(dist, trainer) if not is_progress_bar(cls)]
    stop = _early_stopping(dist, trial, search)
    return built + ([stop] if stop else [])


def check_trial_callbacks(cfg, dist: str) -> str | None:
    """The callbacks built as a trial builds them, in the driver before the sweep starts; the notice of the
    progress bars dropped from every trial, or None.

    UserError (exit 2) for init_args a callback refuses, or two callbacks with one checkpoint state (a user's
    EarlyStopping and trial.early_stopping on one metric and mode): every trial's Trainer would refuse them.
    """
    sweep = cfg.to_dict()
    named, dropped = [], []
    for where, cls, args in _entries(dist, sweep.get("trainer") or {}):
        if is_progress_bar(cls):
            dropped.append(f"{where} ({cls.__name__})")
            continue
        try:
            named.append((where, cls(**args)))
        except Exception as exc:  # Lightning's own checks of its arguments (a mode, a monitor), or the user's
            raise UserError(f"{where}: {cls.__name__}(**{where}.init_args) raised {describe_exception(exc)}") from None
    stop = _early_stopping(dist, sweep.get("trial") or {}, sweep["search"])
    # tuning's own first, so that the user's entry is the one named
    _check_state_keys(([("trial.early_stopping", stop)] if stop else []) + named)
    if not dropped:
        return None
    return (
        f"{', '.join(dropped)}: dropped, trials run without a progress bar (many share one console; tuning "
        "prints the sweep's progress)"
    )


def _check_state_keys(named: list[tuple[str, object]]) -> None:
    """UserError when two stateful callbacks share a state key, which Lightning's Trainer refuses."""
    seen = {}
    for where, callback in named:
        base = flavour.base(flavour.of_class(type(callback), "callback"), "callback")
        if type(callback).state_dict is base.state_dict:  # keeps no state: Lightning allows any number
            continue
        first = seen.setdefault(callback.state_key, where)
        if first != where:
            raise UserError(
                f"{where}: {type(callback).__name__} keeps its checkpoint state under the same key as "
                f"{first} ({callback.state_key}); Lightning refuses two such callbacks in one Trainer, so "
                "every trial would fail: drop one, or make them differ (e.g. monitor, mode)"
            )


def make_profiler(dist: str, name: str | None, trial_dir: str):
    """Lightning's profiler `name` (of distribution `dist`), writing its report into the trial directory once."""
    if not name:
        return None
    profilers = flavour.module(dist).profilers

    base = {
        "simple": profilers.SimpleProfiler,
        "advanced": profilers.AdvancedProfiler,
        "pytorch": profilers.PyTorchProfiler,
    }[name]

    def describe_once(self):
        # The report is written at the final validation, when the trial is stopped or at the end of fit,
        # whichever comes first; Lightning's own call at the end would append a second copy.
        if not getattr(self, "_described", False):
            self._described = True
            base.describe(self)

    # describe() tears the profiler down (the advanced one forgets its actions) while Lightning's epoch action is
    # still open: stopping it then raised "never started" and errored the trial. Once reported, nothing is recorded.
    def start(self, action_name):
        if not getattr(self, "_described", False):
            base.start(self, action_name)

    def stop(self, action_name):
        if not getattr(self, "_described", False):
            base.stop(self, action_name)

    members = {"describe": describe_once, "start": start, "stop": stop}
    return type(base.__name__, (base,), members)(dirpath=trial_dir, filename=PROFILE_FILE)


def action_totals(profiler) -> dict[str, tuple[float, int | None]]:
    """Profiled action (hook, step, data loading; for pytorch, an op) -> (total seconds, calls)."""
    totals = {}
    if hasattr(profiler, "recorded_durations"):  # simple
        totals = {a: (sum(d), len(d)) for a, d in profiler.recorded_durations.items()}
    elif hasattr(profiler, "profiled_actions"):  # advanced: cProfile per action
        import pstats

        for action, prof in profiler.profiled_actions.items():
            stats = pstats.Stats(prof)
            totals[action] = (stats.total_tt, None)
    elif getattr(profiler, "function_events", None) is not None:  # pytorch: ops by self CPU time
        for event in profiler.function_events.key_averages():
            totals[event.key] = (event.self_cpu_time_total / 1e6, event.count)
    return totals


def profile_summary_callback(dist: str, trial_dir: str):
    """A callback that keeps `profile_summary.json` current and writes the report when a trial is stopped.

    The scheduler stops a trial by raising SystemExit in its report call, or ends it at its last
    report; Lightning then skips the profiler's report, so it is written from `on_exception` and
    at the final validation. The summary is rewritten after each validation so that even a trial
    whose worker is killed outright leaves one behind.
    """

    class ProfileSummary(flavour.base(dist, "callback")):
        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking:
                return
            if trainer.is_global_zero:
                write_profile_summary(trainer.profiler, trial_dir)
            # The scheduler may end the trial at its last report, before Lightning writes the report.
            if trainer.max_epochs and trainer.current_epoch + 1 >= trainer.max_epochs:
                trainer.profiler.describe()

        def on_exception(self, trainer, pl_module, exception):
            if trainer.is_global_zero:
                write_profile_summary(trainer.profiler, trial_dir)
            trainer.profiler.describe()

    return ProfileSummary()


# Non-overlapping actions of Lightning's loop, by the part of the work they measure.
_PARTS = {
    "data loading": ("dataloader_next",),
    "training": ("run_training_batch",),
    "validation": ("validation_step",),
    "setup": ("DataModule.setup", "prepare_data"),
}


def bottleneck(totals: dict[str, float]) -> str:
    """data loading, training, validation or setup: whichever took the most profiled time."""
    time = {part: sum(t for a, t in totals.items() if any(m in a for m in marks)) for part, marks in _PARTS.items()}
    return max(time, key=time.get) if any(time.values()) else "unknown"


def write_profile_summary(profiler, trial_dir: str) -> None:
    """`profile_summary.json`: the slowest actions so far and which part of the loop dominates."""
    totals = action_totals(profiler)
    if not totals:  # nothing recorded (yet), or already torn down: keep the last summary
        return
    # The whole-epoch action contains every other one; it would always come first.
    ranked = sorted(((a, t) for a, t in totals.items() if a != "run_training_epoch"), key=lambda x: -x[1][0])
    summary = {
        "profiler": type(profiler).__name__,
        "bottleneck": bottleneck({a: t for a, (t, _) in totals.items()}),
        "slowest": [{"action": a, "total_s": round(t, 6), "calls": n} for a, (t, n) in ranked[:8]],
    }
    with open(os.path.join(trial_dir, PROFILE_SUMMARY_FILE), "w") as fh:
        json.dump(summary, fh, indent=1)

"""Per-trial callbacks and profilers: the user's callbacks built, early stopping, profiling.

`trainer.callbacks` follows LightningCLI: `[{class_path, init_args}]`, where a bare name
(`LearningRateMonitor`) means a class of the sweep's Lightning distribution (tuning.flavour);
resolving and checking them is tuning.classes' work, done before the sweep starts.
"""

import json
import os

from tuning import flavour

PROFILE_FILE = "profile"  # Lightning writes <trial>/<stage>-profile.txt
PROFILE_SUMMARY_FILE = "profile_summary.json"


def build_callbacks(dist: str, trainer: dict, trial: dict, search: dict) -> list:
    """The user's callbacks, plus EarlyStopping when `trial.early_stopping` is set."""
    from tuning.classes import resolve_callback

    built = [resolve_callback(s["class_path"], f"trainer.callbacks[{i}].class_path", dist)(**(s.get("init_args") or {}))
             for i, s in enumerate(trainer.get("callbacks") or [])]
    stop = trial.get("early_stopping")
    if stop:
        from tuning.pareto import objectives

        metric, mode = objectives(search)[0]  # with several objectives, the first unless monitor says
        built.append(flavour.module(dist).callbacks.EarlyStopping(
            monitor=stop["monitor"] or metric, patience=stop["patience"],
            mode=stop["mode"] or mode, min_delta=stop["min_delta"]))
    return built


def make_profiler(dist: str, name: str | None, trial_dir: str):
    """Lightning's profiler `name` (of distribution `dist`), writing its report into the trial directory once."""
    if not name:
        return None
    profilers = flavour.module(dist).profilers

    base = {"simple": profilers.SimpleProfiler, "advanced": profilers.AdvancedProfiler,
            "pytorch": profilers.PyTorchProfiler}[name]

    def describe_once(self):
        # The report is written at the final validation, when the trial is stopped or at the end of fit,
        # whichever comes first; Lightning's own call at the end would append a second copy.
        if not getattr(self, "_described", False):
            self._described = True
            base.describe(self)

    return type(base.__name__, (base,), {"describe": describe_once})(dirpath=trial_dir, filename=PROFILE_FILE)


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
_PARTS = {"data loading": ("dataloader_next",), "training": ("run_training_batch",),
          "validation": ("validation_step",), "setup": ("DataModule.setup", "prepare_data")}


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
    summary = {"profiler": type(profiler).__name__, "bottleneck": bottleneck({a: t for a, (t, _) in totals.items()}),
               "slowest": [{"action": a, "total_s": round(t, 6), "calls": n} for a, (t, n) in ranked[:8]]}
    with open(os.path.join(trial_dir, PROFILE_SUMMARY_FILE), "w") as fh:
        json.dump(summary, fh, indent=1)

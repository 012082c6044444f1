"""Console progress of a sweep, instead of Tune's verbose status tables.

On a terminal: one small view that redraws in place (trials done, running, pending, errored; the
best so far with its params; elapsed time and ETA). In a log (stdout not a TTY): one line per
finished trial.
"""

import math
import sys
import time

from ray.tune import Callback

from tuning.expdir import STATUS  # Tune's trial status -> the report's words
from tuning.search.pareto import objectives, pareto_ranks
from tuning.text import inert

REFRESH_S = 0.5  # the view redraws at most this often


class ProgressLines(Callback):
    """Prints `[done/total] trial ...: best <metric> ... (sweep best ...)` as trials end.

    With several objectives (`metric` and `mode` lists) a line gives all values at the trial's best epoch
    by the first metric, and the size of the sweep's Pareto front so far.
    """

    def __init__(self, metric: str | list, mode: str | list, total: int | None):
        # No stream is kept: Tune pickles its callbacks with the experiment.
        self.metric, self.mode, self.total = metric, mode, total
        self.done, self.best, self.trial_best = 0, None, {}
        self.best_config: dict = {}

    # Properties, not attributes set in __init__: a sweep started before them resumes with its pickled callback.
    @property
    def pairs(self) -> list[tuple[str, str]]:
        return objectives({"metric": self.metric, "mode": self.mode})

    @property
    def trial_values(self) -> dict:
        """Several objectives: trial id -> its values at its best epoch by the first metric."""
        return self.__dict__.setdefault("_trial_values", {})

    def _values(self, result: dict) -> list | None:
        values = [result.get(m) for m, _ in self.pairs]
        return values if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values) else None

    def front(self) -> int:
        """How many trials are on the Pareto front of the values seen so far."""
        return pareto_ranks(list(self.trial_values.values()), [m for _, m in self.pairs]).count(1)

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info):
        # Tune calls this as the run (or a resume) starts, with the trials its search will make in all:
        # after `tuning resume --more K` that is more than this pickled callback was built with.
        if total_num_samples:
            self.total = total_num_samples

    def on_step_begin(self, iteration, trials, **info):
        # Once, as the run starts: a resumed sweep's trials that ended before count, and so do their results
        # (the callback comes back as it was pickled when the sweep started, with none of them).
        if getattr(self, "counted", False):
            return
        self.counted = True
        for trial in trials:
            if trial.status in ("TERMINATED", "ERROR"):
                self.done += 1
                if len(self.pairs) > 1:
                    if self._values(trial.last_result or {}):
                        self.trial_values[trial.trial_id] = self._values(trial.last_result)
                    continue
                value = (trial.metric_analysis.get(self.metric) or {}).get(self.mode)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.trial_best[trial.trial_id] = value
                    if self._better(value, self.best):
                        self.best, self.best_config = value, dict(trial.config)

    def _better(self, value, than) -> bool:
        mode = self.pairs[0][1]  # the first objective's: the only one but in multi-objective lines
        return than is None or (value < than if mode == "min" else value > than)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if len(self.pairs) > 1:
            values, before = self._values(result), self.trial_values.get(trial.trial_id)
            if values and (before is None or self._better(values[0], before[0])):
                self.trial_values[trial.trial_id] = values
            return
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            if self._better(value, self.trial_best.get(trial.trial_id)):
                self.trial_best[trial.trial_id] = value
            if self._better(value, self.best):
                self.best, self.best_config = value, dict(trial.config)

    def _line(self, trial, text: str) -> None:
        self.done += 1
        total = f"/{self.total}" if self.total else ""
        print(inert(f"[{self.done}{total}] trial {trial.trial_id}: {text}"), file=sys.stdout, flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        epochs = (trial.last_result or {}).get("training_iteration", 0)
        value = self.trial_best.get(trial.trial_id)
        if len(self.pairs) > 1:
            values = self.trial_values.get(trial.trial_id)
            names = ", ".join(m for m, _ in self.pairs)
            shown = ", ".join(f"{m} {v:.4g}" for (m, _), v in zip(self.pairs, values or []))
            self._line(
                trial,
                f"{shown} in {epochs} epochs (Pareto front: {self.front()} trials)"
                if values
                else f"ended after {epochs} epochs without finite {names}",
            )
        elif value is None:
            self._line(trial, f"ended after {epochs} epochs without a finite {self.metric}")
        else:
            self._line(trial, f"{self.metric} {value:.4g} in {epochs} epochs (sweep best {self.best:.4g})")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._line(trial, "errored; `tuning report` shows the error")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def view(counts: dict, total: int | None, elapsed: float, metric: str, best, best_config: dict) -> list[str]:
    """The lines of the live view, from plain numbers (so it can be tested without a sweep)."""
    done = counts.get("completed", 0) + counts.get("errored", 0)
    pending = counts.get("pending", 0) + max(0, (total or 0) - sum(counts.values()))
    eta = _clock(elapsed / done * (total - done)) if done and total and total > done else "-"
    lines = [
        f"trials: {done}{f'/{total}' if total else ''} done ({counts.get('completed', 0)} completed, "
        f"{counts.get('errored', 0)} errored), {counts.get('running', 0)} running, {pending} pending   "
        f"elapsed {_clock(elapsed)}, eta {eta}"
    ]
    if best is None:
        lines.append(f"best {metric}: none yet")
    else:
        params = ", ".join(
            f"{k.split('.')[-1]}={v:.4g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
            for k, v in best_config.items()
        )
        lines.append(f"best {metric}: {best:.4g}  {params}")
    return lines


class Progress(ProgressLines):
    """The live view on a terminal, ProgressLines in a log; decided when it prints, not when built."""

    def __init__(self, metric: str, mode: str, total: int | None):
        super().__init__(metric, mode, total)
        self.started, self.drawn, self.last_draw = None, 0, 0.0

    def _interactive(self) -> bool:
        return sys.stdout.isatty()

    def _draw(self, trials, force: bool = False) -> None:
        now = time.monotonic()
        self.started = self.started or now
        if not force and now - self.last_draw < REFRESH_S:
            return
        counts: dict = {}
        for trial in trials:
            state = STATUS.get(trial.status, "pending")
            counts[state] = counts.get(state, 0) + 1
        lines = view(counts, self.total, now - self.started, self.metric, self.best, self.best_config)
        if len(self.pairs) > 1:
            lines[1] = f"Pareto front of {', '.join(m for m, _ in self.pairs)}: {self.front()} trials"
        # Move up over the previous view and clear it, then draw the new one.
        erase = f"\x1b[{self.drawn}F\x1b[J" if self.drawn else ""
        # Inert: metric names and param values are the sweep's text, and this view is drawn with escapes of its own.
        sys.stdout.write(erase + "\n".join(inert(line)[:200] for line in lines) + "\n")
        sys.stdout.flush()
        self.drawn, self.last_draw = len(lines), now

    def on_step_end(self, iteration, trials, **info):
        if self._interactive():
            self._draw(trials)

    def _line(self, trial, text: str) -> None:
        if not self._interactive():
            super()._line(trial, text)

    def on_experiment_end(self, trials, **info):
        if self._interactive():
            self._draw(trials, force=True)

"""One line per finished trial on the console, instead of Tune's status tables."""

import math
import sys

from ray.tune import Callback


class ProgressLines(Callback):
    """Prints `[done/total] trial ...: best <metric> ... (sweep best ...)` as trials end."""

    def __init__(self, metric: str, mode: str, total: int | None):
        # No stream is kept: Tune pickles its callbacks with the experiment.
        self.metric, self.mode, self.total = metric, mode, total
        self.done, self.best, self.trial_best = 0, None, {}

    def _better(self, value, than) -> bool:
        return than is None or (value < than if self.mode == "min" else value > than)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            if self._better(value, self.trial_best.get(trial.trial_id)):
                self.trial_best[trial.trial_id] = value
            if self._better(value, self.best):
                self.best = value

    def _line(self, trial, text: str) -> None:
        self.done += 1
        total = f"/{self.total}" if self.total else ""
        print(f"[{self.done}{total}] trial {trial.trial_id}: {text}", file=sys.stdout, flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        epochs = (trial.last_result or {}).get("training_iteration", 0)
        value = self.trial_best.get(trial.trial_id)
        if value is None:
            self._line(trial, f"ended after {epochs} epochs without a finite {self.metric}")
        else:
            self._line(trial, f"{self.metric} {value:.4g} in {epochs} epochs (sweep best {self.best:.4g})")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._line(trial, "errored; `tuning report` shows the error")

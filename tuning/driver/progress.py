"""Console progress of a sweep, instead of Tune's verbose status tables.

Where the output goes decides what is drawn (tqdm does the drawing): on a terminal, one line per finished trial
with a live status line under them (trials done, running and pending, the best so far, elapsed time and an
estimate of what is left); in a Jupyter notebook, that status alone as a live display (tqdm.auto: a widget with
ipywidgets, else a line redrawn in place); in a log (stdout not a terminal), plain lines, one per finished trial.
"""

import math
import os
import shutil
import sys
import time

from ray.tune import Callback

from tuning.expdir import STATUS  # Tune's trial status -> the report's words
from tuning.search.pareto import objectives, pareto_ranks
from tuning.text import inert

REFRESH_S = 0.5  # the status line redraws at most this often (more often as trials end)
# tqdm fills the fields: n done of total, `postfix` (running, pending, errored), the elapsed time, the estimate of
# what is left (from the trials done since the display started) and `desc` (the best so far).
STATUS_FORMAT = "trials {n_fmt}/{total_fmt} done{postfix} | elapsed {elapsed}, eta {remaining} | {desc}"
_LIVE = ("_bar", "_output", "_drawn_at")  # the display and what it decided: never pickled (Tune pickles callbacks)


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
        self._print(inert(f"[{self.done}{total}] trial {trial.trial_id}: {text}"))

    def _print(self, line: str) -> None:
        print(line, file=sys.stdout, flush=True)

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


def where_output_goes() -> str:
    """'notebook' in a Jupyter kernel, 'terminal' when stdout is a terminal, 'log' otherwise."""
    # tqdm.autonotebook's own test: a Jupyter kernel (notebook, lab, VS Code, Colab) has imported its shell.
    if "ipykernel.zmqshell" in sys.modules:
        return "notebook"
    return "terminal" if sys.stdout.isatty() else "log"


def terminal_size() -> tuple[int, int]:
    """(columns, lines) of the terminal stdout is on; COLUMNS and LINES, else 80 x 24, where it tells none.

    The terminal's own size first: COLUMNS may be stale (readline exports it for the processes a program starts),
    and a pseudo-terminal nobody sized tells 0 x 0, which tqdm would take as is and draw nothing in."""
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (a stream in memory)
        size = None
    return tuple(size) if size and size.columns and size.lines else tuple(shutil.get_terminal_size())


def _params(config: dict) -> str:
    return ", ".join(
        f"{k.split('.')[-1]}={v:.4g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}" for k, v in config.items()
    )


class Progress(ProgressLines):
    """ProgressLines in a log; on a terminal those lines with a live status line under them; in a notebook the
    status line alone, live (see the module). Decided when it first prints, not when built: Tune pickles it with
    the experiment, and a resume may run elsewhere. Instances pickled by earlier versions (which drew the view by
    hand: `started`, `drawn`, `last_draw`) resume as they are."""

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in _LIVE}

    def _where(self) -> str:
        return self.__dict__.setdefault("_output", where_output_goes())

    def counts(self, trials) -> tuple[int, str]:
        """(trials done, the status line's `running, pending[, errored]` part) from Tune's trial list."""
        counts: dict = {}
        for trial in trials:
            state = STATUS.get(trial.status, "pending")
            counts[state] = counts.get(state, 0) + 1
        pending = counts.get("pending", 0) + max(0, (self.total or 0) - len(trials))  # those not created yet
        errored = counts.get("errored", 0)
        return counts.get("completed", 0) + errored, (
            f"{counts.get('running', 0)} running, {pending} pending" + (f", {errored} errored" if errored else "")
        )

    def best_text(self) -> str:
        """The status line's best so far: the value and its params, or the Pareto front's size."""
        if len(self.pairs) > 1:
            return f"Pareto front of {', '.join(m for m, _ in self.pairs)}: {self.front()} trials"
        if self.best is None:
            return f"best {self.metric}: none yet"
        params = _params(self.best_config)
        return f"best {self.metric} {self.best:.4g}" + (f" ({params})" if params else "")

    def status_line(self, trials, elapsed: float, since: int = 0) -> str:
        """The status line after `elapsed` seconds, `since` of the trials done when the clock started (the
        estimate of what is left counts the trials done since)."""
        from tqdm import tqdm

        done, postfix = self.counts(trials)
        return tqdm.format_meter(
            done,
            self.total,
            elapsed,
            prefix=inert(self.best_text()),
            postfix=postfix,
            bar_format=STATUS_FORMAT,
            initial=since,
        )

    def _display(self, done: int, desc: str, postfix: str):
        """The live display, made on first use (its clock starts then)."""
        bar = self.__dict__.get("_bar")
        if bar is None:
            if self._where() == "notebook":
                from tqdm.auto import tqdm

                size = {}
            else:
                from tqdm import tqdm

                size = dict(zip(("ncols", "nrows"), terminal_size()))
            # smoothing=0: the rate (and so the estimate) is the average since the start, not of the last trials
            bar = tqdm(
                total=self.total,
                initial=done,
                desc=desc,
                postfix=postfix,
                file=sys.stdout,
                bar_format=STATUS_FORMAT,
                smoothing=0,
                mininterval=0,
                disable=False,
                leave=True,
                **size,
            )
            self.__dict__["_bar"] = bar
        return bar

    def _draw(self, trials, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.__dict__.get("_drawn_at", 0.0) < REFRESH_S:
            return
        done, postfix = self.counts(trials)
        # Inert: metric names and param values are the sweep's text, drawn amid the display's own controls.
        desc = inert(self.best_text())
        bar = self._display(done, desc, postfix)
        bar.total, bar.n = self.total, done
        if self._where() == "terminal":  # the width now (a terminal may be resized): a wrapped line is not redrawn
            bar.ncols = terminal_size()[0]
        bar.set_description_str(desc, refresh=False)
        bar.set_postfix_str(postfix, refresh=False)
        bar.refresh()
        self.__dict__["_drawn_at"] = now

    def on_step_end(self, iteration, trials, **info):
        if self._where() != "log":
            self._draw(trials)

    def _print(self, line: str) -> None:
        where = self._where()
        if where == "log":
            super()._print(line)
        elif where == "terminal":  # above the status line, which tqdm draws again under it
            from tqdm import tqdm

            tqdm.write(line, file=sys.stdout)
        # in a notebook, no line per trial: the live display is all (a sweep of 1000 trials is no wall of text)

    def on_trial_complete(self, iteration, trials, trial, **info):
        super().on_trial_complete(iteration, trials, trial, **info)
        if self._where() != "log":
            self._draw(trials, force=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        super().on_trial_error(iteration, trials, trial, **info)
        if self._where() != "log":
            self._draw(trials, force=True)

    def on_experiment_end(self, trials, **info):
        if self._where() != "log":
            self._draw(trials, force=True)
            self.__dict__.pop("_bar").close()  # the last status stays, with a newline after it

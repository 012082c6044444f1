"""The progress of a sweep: the status line's text from trial events, drawn live on a (pseudo-)terminal under the
per-trial lines, plain lines when piped, and the callback's pickled state (Tune pickles it with the experiment).
A whole sweep on a pseudo-terminal: test_report_e2e.py."""

import io
import os
import pickle
import pty
import sys

import pytest
from ray.tune.experiment import Trial

from tuning.driver.progress import Progress


def trials(n: int) -> list:
    return [
        Trial("trainable", config={"model.init_args.lr": 0.00312, "data.x.bs": 64}, trial_id=f"t{i}", stub=True)
        for i in range(n)
    ]


def finish(progress: Progress, every: list, trial, value=None, status: str = "TERMINATED") -> None:
    """Tune's events for a trial that reports `value` once and ends (or errors)."""
    if value is not None:
        result = {"val_loss": value, "training_iteration": 1}
        trial.update_last_result(result)  # Tune's own bookkeeping, before it tells the callbacks
        progress.on_trial_result(0, every, trial, result)
    trial.set_status(status)
    if status == "ERROR":
        progress.on_trial_error(0, every, trial)
    else:
        progress.on_trial_complete(0, every, trial)


def test_status_line_counts_best_and_eta_from_trial_events():
    progress, every = Progress("val_loss", "min", 12), trials(7)
    progress.on_step_begin(0, every)
    assert progress.status_line(every, elapsed=5.0) == (
        "trials 0/12 done, 0 running, 12 pending | elapsed 00:05, eta ? | best val_loss: none yet"
    )
    for trial, value in zip(every, [0.5, 0.1234567, 0.3]):
        finish(progress, every, trial, value)
    finish(progress, every, every[3], status="ERROR")
    every[4].set_status("RUNNING")
    every[5].set_status("RUNNING")
    progress.on_trial_result(0, every, every[4], {"val_loss": 0.9, "training_iteration": 1})  # no better: not best
    assert progress.status_line(every, elapsed=80.0) == (
        "trials 4/12 done, 2 running, 6 pending, 1 errored | elapsed 01:20, eta 02:40 | "
        "best val_loss 0.1235 (lr=0.00312, bs=64)"
    )
    # a resume: the 2 trials done before the clock started do not speed up the estimate
    assert "eta 05:20" in progress.status_line(every, elapsed=80.0, since=2)


def test_status_line_of_several_objectives_gives_the_pareto_front():
    progress, every = Progress(["val_loss", "val_acc"], ["min", "max"], 3), trials(3)
    for trial, values in zip(every, [(0.5, 0.9), (0.4, 0.8), (0.6, 0.7)]):
        progress.on_trial_result(0, every, trial, {"val_loss": values[0], "val_acc": values[1]})
        trial.set_status("TERMINATED")
    assert progress.status_line(every, elapsed=1.0).endswith("| Pareto front of val_loss, val_acc: 2 trials")


def run_events(progress: Progress) -> None:
    """Two trials as Tune reports them: one finishes, one errors, the experiment ends."""
    every = trials(2)
    progress.on_step_begin(0, every)
    progress.on_step_end(0, every)
    every[1].set_status("RUNNING")
    finish(progress, every, every[0], 0.25)
    progress.on_step_end(0, every)
    finish(progress, every, every[1], status="ERROR")
    progress.on_experiment_end(every)


def test_on_a_terminal_the_status_line_is_redrawn_under_the_trial_lines(monkeypatch):
    master, slave = pty.openpty()
    terminal = io.TextIOWrapper(os.fdopen(slave, "wb", buffering=0), encoding="utf-8", write_through=True)
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setenv("COLUMNS", "200")  # the pseudo-terminal tells no width
    run_events(Progress("val_loss", "min", 2))
    monkeypatch.undo()
    terminal.close()
    out = b""
    while chunk := _read(master):
        out += chunk
    os.close(master)
    screen = out.decode()
    assert "\r[1/2] trial t0: val_loss 0.25 in 1 epochs (sweep best 0.25)\r\n" in screen  # the status cleared first
    assert "\r[2/2] trial t1: errored" in screen
    last = screen.rsplit("\r", 2)[-2]  # tqdm redraws the line after a carriage return; it ends with a newline
    assert last.startswith("trials 2/2 done, 0 running, 0 pending, 1 errored | elapsed 00:00, eta ")
    assert last.rstrip().endswith("| best val_loss 0.25 (lr=0.00312, bs=64)")
    assert screen.index("[2/2] trial") < screen.rindex("trials 2/2 done"), "the status line stays under the lines"


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the writer closed the terminal
        return b""


def test_piped_output_is_plain_lines_without_the_status_line(capsys):
    run_events(Progress("val_loss", "min", 2))
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "[1/2] trial t0: val_loss 0.25 in 1 epochs (sweep best 0.25)",
        "[2/2] trial t1: errored; `tuning report` shows the error",
    ]
    assert "\r" not in out


def test_pickled_state_holds_no_display_and_an_earlier_versions_instance_still_works(monkeypatch, capsys):
    progress, every = Progress("val_loss", "min", 2), trials(2)
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # not a terminal: tqdm writes there all the same
    progress._draw(every, force=True)  # a live display, as on a terminal
    state = pickle.loads(pickle.dumps(progress)).__dict__
    assert "_bar" in progress.__dict__ and not {"_bar", "_output", "_drawn_at"} & set(state)
    monkeypatch.undo()
    # What the hand-drawn view before tqdm pickled (no stream either): its own fields come back and are not used.
    old = Progress.__new__(Progress)
    old.__dict__.update(
        metric="val_loss", mode="min", total=2, done=0, best=None, trial_best={}, best_config={},
        started=None, drawn=0, last_draw=0.0,
    )  # fmt: skip
    run_events(pickle.loads(pickle.dumps(old)))
    assert capsys.readouterr().out.splitlines()[0] == "[1/2] trial t0: val_loss 0.25 in 1 epochs (sweep best 0.25)"


@pytest.mark.parametrize("kernel", [False, True])
def test_a_jupyter_kernel_is_told_from_a_terminal_and_a_log(monkeypatch, kernel):
    from tuning.driver.progress import where_output_goes

    if kernel:  # what a Jupyter kernel has imported (tqdm.autonotebook tells a notebook by it too)
        monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", sys)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert where_output_goes() == ("notebook" if kernel else "log")

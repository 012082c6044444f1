"""Documented behaviour that broke without a test noticing (issue 32): each test here goes through the command line
(`tuning.cli.main`, or a real `tuning` process) and fails when the behaviour it names breaks."""

import json
import os
import select
import signal
import threading

import pytest
import yaml

from tests.in_process import tuning_here
from tests.processes import kill_group, start_tuning, stop_requested, wait_until
from tests.tuning.report.test_report import make_experiment

# Each trial's val_loss per epoch: ranked by its best epoch a, b, c, d; by its last epoch b, c, d, a.
LOSSES = {
    "a": ("TERMINATED", [0.1, 0.9, 0.8], {}),
    "b": ("TERMINATED", [0.5, 0.4, 0.3], {}),
    "c": ("TERMINATED", [0.6], {}),
    "d": ("ERROR", [0.7], {"error.txt": "x\nValueError: no\n"}),
}


@pytest.fixture
def experiment(tmp_path) -> str:
    return str(make_experiment(tmp_path / "e", LOSSES))


def _ranked(*args: str) -> list[tuple[int, str]]:
    """(rank, trial) of each row `tuning report ... --format json` shows."""
    result = tuning_here("report", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return [(t["rank"], t["trial_id"]) for t in json.loads(result.stdout)["trials"]]


def _table_rows(*args: str) -> list[tuple[str, str]]:
    """(rank, trial) of each row of the table `tuning report ...` prints."""
    result = tuning_here("report", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\nrank ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    return [tuple(line.split()[:2]) for line in lines if line.split()[0].isdigit()]


def test_report_top_shows_only_the_best_k(experiment):
    assert _ranked(experiment) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert _ranked(experiment, "--top", "2") == [(1, "a"), (2, "b")]
    assert _table_rows(experiment, "--top", "2") == [("1", "a"), ("2", "b")]


def test_report_scope_ranks_by_the_epoch_it_names_over_the_sweeps_own(experiment, tmp_path):
    assert _ranked(experiment, "--scope", "last") == [(1, "b"), (2, "c"), (3, "d"), (4, "a")]
    assert _table_rows(experiment, "--scope", "last")[0] == ("1", "b")
    # A sweep whose search.scope is last: --scope best overrides it, and without the flag the sweep's own counts.
    sweep = yaml.safe_load((tmp_path / "e" / "sweep.yaml").read_text())
    sweep["search"]["scope"] = "last"
    (tmp_path / "e" / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    assert _ranked(experiment)[0] == (1, "b")
    assert _ranked(experiment, "--scope", "best")[0] == (1, "a")


def test_report_status_shows_only_those_trials_with_their_ranks_among_all(experiment):
    assert _ranked(experiment, "--status", "errored") == [(4, "d")]
    assert _ranked(experiment, "--status", "stopped_early,errored") == [(3, "c"), (4, "d")]
    assert _table_rows(experiment, "--status", "errored") == [("4", "d")]


def test_compare_scope_picks_each_experiments_best_by_that_epoch(tmp_path):
    one = make_experiment(tmp_path / "one", LOSSES)
    other = make_experiment(
        tmp_path / "other", {"x": ("TERMINATED", [0.2, 0.5], {}), "y": ("TERMINATED", [0.6, 0.25], {})}
    )

    def best_trials(*args: str) -> list[str]:
        result = tuning_here("compare", str(one), str(other), *args)
        assert result.returncode == 0, result.stderr
        [row] = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("trial ")]
        return row

    assert best_trials() == ["a", "x"]
    assert best_trials("--scope", "last") == ["b", "y"]
    assert best_trials("--scope", "best") == ["a", "x"]


@pytest.mark.parametrize("mode,metric", [("max", "val_acc"), ("min", "val_loss")])
def test_trial_early_stopping_mode_defaults_to_the_sweeps_search_mode(tmp_path, tiny_sweep, mode, metric):
    """The EarlyStopping a trial's Trainer gets, built by the trial's own code from a sweep file read as `tuning run`
    reads it: with no trial.early_stopping.mode or monitor, the sweep's search.mode and search.metric."""
    from tuning.sweep import flavour
    from tuning.sweep.config import load_sweep
    from tuning.trial.fit import make_trainer

    tiny_sweep["search"].update(metric=metric, mode=mode)
    tiny_sweep["trial"] = {"early_stopping": {"patience": 2}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(tiny_sweep))
    sweep = {**load_sweep(str(tmp_path / "sweep.yaml")).to_dict(), "lightning": flavour.DEFAULT}
    trainer = make_trainer(flavour.DEFAULT, sweep["trainer"], str(tmp_path / "trial"), sweep)
    stop = trainer.early_stopping_callback
    assert (stop.monitor, stop.mode, stop.patience) == (metric, mode, 2)


def test_confirm_exits_3_when_a_rerun_errors(ray_session, restore_environ, tmp_path):
    """A sweep's one trial (seed 0) confirmed with 2 new seeds (1 and 2): the model raises under seed 2, so one
    rerun errors. `tuning confirm` still prints its table, names the errored trial and exits 3, as `run` would.
    (The sweep's experiment is written file by file: only the confirmation runs trials.)"""
    from tuning.sweep.config import parse_sweep

    sweep = {
        "name": "unlucky",
        "model": {"class_path": "tests.fault_models.FailsOnSeed", "init_args": {"width": 64, "failing_seed": 2}},
        "data": {"class_path": "digits", "init_args": {"batch_size": 256}},
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "num_samples": 1,
            "space": {"model.init_args.lr": {"uniform": [0.01, 0.1]}},
            "searcher": {"name": "random", "seed": 0},
            "scheduler": {"name": "fifo"},
        },
        "resources": {"cpu": 1, "max_concurrent": 2},
        "run": {"seed": 0, "storage": str(tmp_path)},
    }
    source = make_experiment(tmp_path / "unlucky", {"a": ("TERMINATED", [0.5], {}, {"model.init_args.lr": 0.05})})
    (source / "sweep.yaml").write_text(yaml.safe_dump(parse_sweep(sweep).to_dict()))
    result = tuning_here("confirm", str(source), "--top", "1", "--seeds", "2")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    assert "RuntimeError: seed 2 fails" in result.stderr and "1 of 2 trials errored" in result.stderr
    assert f"experiment: {tmp_path / 'unlucky-confirm'}" in result.stdout


@pytest.mark.integration  # a real `tuning run`, signalled
def test_a_second_ctrl_c_stops_at_once_while_the_clean_stop_waits_on_a_stalled_storage(tmp_path, tiny_sweep):
    """Ctrl-C asks Ray Tune for its clean stop, which saves the experiment's state to storage first; when the storage
    stalls (here: a FIFO nobody reads where Tune writes its searcher state, so every save blocks), that stop waits
    with it. A second Ctrl-C must end the run at once: exit 130, the resume command printed, the run recorded as
    interrupted, while the storage still stalls and the sweep (4 trials of 100 one-second epochs, one at a time) is
    far from done. Without the second Ctrl-C the run would wait for the storage (Ray Tune's sync timeout: 30 minutes).
    (Each epoch is one training and one validation batch: the trial only has to be running, not learning.)"""
    tiny_sweep["model"] = {"class_path": "tests.fault_models.Slow", "init_args": {"seconds": 1.0}}
    tiny_sweep["search"].update(
        num_samples=4, scheduler={"name": "fifo"}, space={"model.init_args.lr": {"loguniform": [1e-3, 1e-1]}}
    )
    tiny_sweep["trainer"].update(max_epochs=100, limit_train_batches=1, limit_val_batches=1)
    tiny_sweep["resources"]["max_concurrent"] = 1
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(tiny_sweep))
    exp, log = tmp_path / "runs" / "stalled", tmp_path / "run.log"
    run = start_tuning(
        "run", str(tmp_path / "sweep.yaml"), "--storage", str(tmp_path / "runs"), "--name", "stalled", log=log
    )
    drained = threading.Event()
    try:
        wait_until(lambda: list(exp.glob("searcher-state-*.pkl")), run, log, "saving the experiment's state")
        [state] = exp.glob("searcher-state-*.pkl")
        _stall(state)
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        stop_requested(run, log)
        os.killpg(run.pid, signal.SIGINT)
        resume = f"continue with: tuning resume {exp}"
        wait_until(lambda: resume in log.read_text(), run, log, "stopping at the second Ctrl-C", timeout=120)
        # Ray's upload thread is still stuck in the stalled write, and Python's exit waits for it: unstall.
        threading.Thread(target=_drain, args=(state, drained), daemon=True).start()
        assert run.wait(timeout=120) == 130, log.read_text()[-3000:]
    finally:
        drained.set()
        kill_group(run) if run.poll() is None else None
    assert "tuning run: interrupted" in log.read_text()
    [only] = json.loads((exp / "environment.json").read_text())["runs"]
    assert only["outcome"] == "interrupted" and only["ended"] is not None


def _stall(path) -> None:
    """Replace the file at `path` with a FIFO: whoever next opens it for writing blocks until a reader comes."""
    while True:
        try:
            path.unlink(missing_ok=True)
            os.mkfifo(path)
            return
        except FileExistsError:  # written again between the two calls
            continue


def _drain(fifo, done: threading.Event) -> None:
    """Read and discard what is written into `fifo` until `done`."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while not done.is_set():
            select.select([fd], [], [], 0.2)
            try:
                if not os.read(fd, 1 << 16):
                    done.wait(0.05)  # no writer connected just now
            except BlockingIOError:
                pass
    finally:
        os.close(fd)

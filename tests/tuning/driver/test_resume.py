"""`tuning resume` after real interruptions of `tuning run`: SIGKILL of its process group, then Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from tests.in_process import tuning_here
from tests.processes import kill_group, start_tuning, stop_requested
from tests.synthetic_sweeps import branin_sweep
from tuning.driver.resume import STUDY_FILE, trial_states
from tuning.driver.tuner import resume_sweep
from tuning.errors import UserError
from tuning.report.load import load_report, read_results

pytestmark = pytest.mark.integration  # real `tuning` processes, killed and resumed
ROOT = Path(__file__).resolve().parents[3]


def _start(*args: str, log: Path) -> subprocess.Popen:
    """`tuning ARGS` in its own process group (a session), as a terminal would run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "tuning", *args],
        cwd=ROOT,
        start_new_session=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait_finished(proc, exp_dir: Path, count: int, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while sum(s["status"] == "TERMINATED" for s in trial_states(exp_dir)) < count:
        assert proc.poll() is None, f"tuning exited early ({proc.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"fewer than {count} trials finished in time:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


def _wait_logged(proc, text: str, log: Path, timeout: float = 300) -> None:
    """Waits until `text` appears in the log (the progress line of a finished trial is printed at once)."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"tuning exited early ({proc.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{text!r} not logged in time:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _results(exp_dir: Path, state: dict, metric: str = "val_loss") -> list:
    rows = read_results(exp_dir / state["relative_logdir"] / "result.json")
    return [(r["training_iteration"], r[metric]) for r in rows]


@pytest.fixture
def sweep_file(tmp_path, tiny_sweep) -> Path:
    tiny_sweep["trainer"]["max_epochs"] = 3
    # About 3 s per trial: a resumed sweep is surely still running when the test presses Ctrl-C.
    tiny_sweep["trainer"]["callbacks"] = [
        {"class_path": "tests.user_callbacks.SlowEpochs", "init_args": {"seconds": 1.0}}
    ]
    tiny_sweep["search"].update(num_samples=6, scheduler={"name": "fifo"})
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep))
    return path


def test_killed_then_interrupted_sweep_resumes_to_exactly_num_samples(ray_session, tmp_path, sweep_file):
    """Lightning trials, killed mid-epoch: unfinished ones continue from their checkpoints, their result rows cut."""
    exp_dir, log = tmp_path / "runs" / "killed", tmp_path / "run.log"
    run = _start("run", str(sweep_file), "--storage", str(tmp_path / "runs"), "--name", "killed", log=log)
    try:
        _wait_finished(run, exp_dir, 2, log)
    finally:
        kill_group(run)
    finished = {s["trial_id"]: _results(exp_dir, s) for s in trial_states(exp_dir) if s["status"] == "TERMINATED"}
    assert 2 <= len(finished) < 6
    # A crash in the middle of writing a result line leaves half a line; the report skips it, resume cuts it.
    unfinished = next((s for s in trial_states(exp_dir) if s["status"] != "TERMINATED" and s["relative_logdir"]), None)
    assert unfinished, f"no unfinished trial with a directory in the snapshot: {trial_states(exp_dir)}"
    with (exp_dir / unfinished["relative_logdir"] / "result.json").open("a") as fh:
        fh.write('{"val_loss": 0.')
    with pytest.warns(UserWarning, match="unreadable"):
        assert len(load_report(str(exp_dir)).trials) == len(trial_states(exp_dir))

    # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    resume_log = tmp_path / "resume.log"
    resume = _start("resume", str(exp_dir), log=resume_log)
    try:
        # One trial finished in this run (the count goes on from those that finished before), more to go.
        _wait_logged(resume, f"[{len(finished) + 1}/6]", resume_log)
        os.killpg(resume.pid, signal.SIGINT)
        assert resume.wait(timeout=120) == 130, resume_log.read_text()[-3000:]
    finally:
        kill_group(resume) if resume.poll() is None else None
    assert f"continue with: tuning resume {exp_dir}" in resume_log.read_text()

    # A restarted cluster job runs its entrypoint again: `tuning run` of the same sweep, --resume-existing.
    # A plain `tuning run` still refuses the existing experiment. Neither is signalled: both run in this process
    # (the second on the session's Ray), the process boundary having been crossed by the kill and the Ctrl-C above.
    again = ["run", str(sweep_file), "--storage", str(tmp_path / "runs"), "--name", "killed"]
    refused = tuning_here(*again)  # refused before Ray starts
    assert refused.returncode == 2 and "already exists" in refused.stderr, refused.stderr[-3000:]
    done = tuning_here(*again, "--resume-existing")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "continuing the existing experiment" in done.stderr

    states = trial_states(exp_dir)
    assert len(states) == 6 and all(s["status"] == "TERMINATED" for s in states)
    for state in states:
        assert [i for i, _ in _results(exp_dir, state)] == [1, 2, 3], state["relative_logdir"]
        if state["trial_id"] in finished:
            assert _results(exp_dir, state) == finished[state["trial_id"]], "a finished trial was run again"
    configs = [json.dumps(s["params"], sort_keys=True) for s in states]
    assert len(set(configs)) == 6, "a config was suggested twice"
    assert len(load_report(str(exp_dir)).trials) == 6

    # Optuna's study in the experiment directory saw every trial, each told once; nothing left running.
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{exp_dir / STUDY_FILE}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert sorted(t.params["model.init_args.lr"] for t in complete) == sorted(
        s["params"]["model.init_args.lr"] for s in states
    )

    environment = json.loads((exp_dir / "environment.json").read_text())
    assert environment["packages"]["torch"] and environment["packages"]["ray"] and environment["packages"]["optuna"]
    assert len(environment["git"]["commit"]) == 40  # `tuning` ran from this checkout
    runs = environment["runs"]
    assert all(len(r["nodes"]) == 1 and r["nodes"][0]["resources"]["CPU"] >= 1 for r in runs)
    assert [r["command"] for r in runs] == ["run", "resume", "resume"]
    assert runs[0]["ended"] is None and runs[1]["outcome"] == "interrupted" and runs[2]["outcome"] == "finished"


def test_resume_refuses_what_it_cannot_resume(tmp_path, capsys):
    from tuning.cli.commands import main

    assert main(["resume", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(UserError, match="does not exist"):
        resume_sweep(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a tuning experiment"):
        resume_sweep(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="does not exist"):  # a URI is checked the same way
        resume_sweep(f"file://{tmp_path}/nope")


def test_a_trial_finished_after_the_last_snapshot_may_report_again(tmp_path, tiny_sweep):
    """Tune restores its searcher from the last snapshot; optuna.db may already hold the trial as finished."""
    from tuning.driver.resume import study_storage
    from tuning.search.searchers import make_searcher
    from tuning.sweep.config import parse_sweep
    from tuning.sweep.space import to_param_space

    search = parse_sweep(tiny_sweep).search
    searcher = make_searcher(search, 0, storage=study_storage("optuna", tmp_path))
    searcher.set_search_properties(search.metric, search.mode, to_param_space(search.space, False))
    searcher.suggest("t1")
    searcher.on_trial_result("t1", {"val_loss": 1.0, "training_iteration": 1})
    searcher.save(str(tmp_path / "snapshot.pkl"))  # Tune's snapshot, taken here
    searcher.on_trial_complete("t1", {"val_loss": 0.5, "training_iteration": 2})  # then the driver died

    resumed = make_searcher(search, 0, storage=study_storage("optuna", tmp_path))
    resumed.restore(str(tmp_path / "snapshot.pkl"))
    resumed.on_trial_result("t1", {"val_loss": 0.5, "training_iteration": 2})  # must not stop the sweep
    resumed.on_trial_complete("t1", {"val_loss": 0.5, "training_iteration": 2})
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{tmp_path / STUDY_FILE}")
    assert [(t.state, t.value) for t in study.trials] == [(optuna.trial.TrialState.COMPLETE, 0.5)]

    # An errored trial (FAIL in the study) that resume retries to the end: its result is kept as well.
    params = resumed.suggest("t2")
    resumed.on_trial_complete("t2", error=True)
    resumed.save(str(tmp_path / "snapshot.pkl"))
    again = make_searcher(search, 0, storage=study_storage("optuna", tmp_path))
    again.restore(str(tmp_path / "snapshot.pkl"))
    again.on_trial_result("t2", {"val_loss": 0.4, "training_iteration": 1})
    again.on_trial_complete("t2", {"val_loss": 0.4, "training_iteration": 2})
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{tmp_path / STUDY_FILE}")
    assert [(t.state, t.value) for t in study.trials[1:]] == [
        (optuna.trial.TrialState.FAIL, None),
        (optuna.trial.TrialState.COMPLETE, 0.4),
    ]
    assert study.trials[1].params == study.trials[2].params == params


def test_trials_proposed_after_the_last_snapshot_are_settled_as_failed(tmp_path):
    """A trial asked of Optuna after Tune's last snapshot died with the driver: it must not stay RUNNING."""
    from tuning.driver.resume import settle_orphans, study_storage

    study = optuna.create_study(study_name="tuning", storage=study_storage("optuna", tmp_path))
    lr = optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)
    done, known, lost = (study.ask({"model.init_args.lr": lr}) for _ in range(3))
    study.tell(done, 0.3)
    (tmp_path / "trial_0002_b").mkdir()
    (tmp_path / "trial_0002_b" / "params.json").write_text(json.dumps(known.params))
    snapshot = {
        "trial_data": [[json.dumps({"trial_id": "b", "status": "RUNNING", "relative_logdir": "trial_0002_b"}), "{}"]]
    }
    (tmp_path / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(snapshot))

    assert settle_orphans(tmp_path) == 1
    states = [t.state for t in optuna.load_study(study_name="tuning", storage=study_storage("optuna", tmp_path)).trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL]


def test_a_double_ctrl_c_stops_the_run_at_once_and_keeps_its_state(tmp_path, sweep_file):
    """Ctrl-C in a terminal signals the foreground group, Ray's processes too; the second one stops at once.
    (SIGTERM: test_sigterm_stops_a_run_and_resume_more_extends_it.)"""
    exp_dir = _signalled_run(tmp_path, sweep_file, ((signal.SIGINT, True), (signal.SIGINT, True)), snapshot=True)
    states = trial_states(exp_dir)
    assert 1 <= sum(s["status"] == "TERMINATED" for s in states) < 6  # the snapshot holds the finished trial


def _signalled_run(tmp_path, sweep_file, signals, snapshot: bool = False) -> Path:
    """`tuning run` of sweep_file stopped by `signals` after one trial finished (`snapshot`: once Tune's periodic
    snapshot holds it, which a stop at once does not wait to write): exit 130, the resume command printed, the run
    recorded as interrupted."""
    exp_dir, log = tmp_path / "runs" / "stopped", tmp_path / "run.log"
    run = start_tuning("run", str(sweep_file), "--storage", str(tmp_path / "runs"), "--name", "stopped", log=log)
    try:
        _wait_logged(run, "[1/", log)  # one trial finished, more to go
        if snapshot:
            _wait_finished(run, exp_dir, 1, log)
        for i, (sig, group) in enumerate(signals):
            if i:  # a signal sent before the first was handled would merge with it
                stop_requested(run, log)
            (os.killpg if group else os.kill)(run.pid, sig)
        assert run.wait(timeout=120) == 130, log.read_text()[-3000:]
    finally:
        kill_group(run) if run.poll() is None else None
    assert f"continue with: tuning resume {exp_dir}" in log.read_text()
    [only] = json.loads((exp_dir / "environment.json").read_text())["runs"]
    assert only["outcome"] == "interrupted" and only["ended"] is not None
    return exp_dir


def test_sigterm_stops_a_run_and_resume_more_extends_it(ray_session, tmp_path, sweep_file, capsys):
    """SIGTERM to the driver alone (`kill PID`, a container's stop) stops `tuning run` as Ctrl-C does; then
    `tuning resume EXP --more 1` extends the interrupted sweep: the finished trials stay as they were, the
    unfinished ones end, one more runs: num_samples + 1 trials, no config twice, the study holds each once."""
    from tuning.cli.commands import main

    # 3 trials: SIGTERM comes as the first ends, while the third (3 s) has not, so the run surely stops early.
    sweep = yaml.safe_load(sweep_file.read_text())
    sweep["search"]["num_samples"] = 3
    sweep_file.write_text(yaml.safe_dump(sweep))
    exp_dir = _signalled_run(tmp_path, sweep_file, ((signal.SIGTERM, False),))
    before = {s["trial_id"]: _results(exp_dir, s) for s in trial_states(exp_dir) if s["status"] == "TERMINATED"}
    assert main(["resume", str(exp_dir), "--more", "1"]) == 0, capsys.readouterr().err[-2000:]
    states = trial_states(exp_dir)
    assert len(states) == 4 and all(s["status"] == "TERMINATED" for s in states), states
    assert {s["trial_id"]: _results(exp_dir, s) for s in states if s["trial_id"] in before} == before
    assert len({json.dumps(s["params"], sort_keys=True) for s in states}) == 4, "a config was suggested twice"
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{exp_dir / STUDY_FILE}")
    told = [t for t in study.trials if t.state != optuna.trial.TrialState.FAIL]  # FAIL: settled orphans
    assert sorted(t.user_attrs["tune_trial_id"] for t in told) == sorted(s["trial_id"] for s in states)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in told)
    assert yaml.safe_load((exp_dir / "sweep.yaml").read_text())["search"]["num_samples"] == 4


def test_more_extends_a_finished_sweep_without_repeating_a_config(ray_session, tmp_path, capsys):
    """`tuning resume EXP --more 2` on a finished sweep: 2 new trials, the old ones as they were, no config twice,
    the study and sweep.yaml hold 5; a random-search sweep is refused (exit 2) with nothing written.
    The driver's bookkeeping, not its trials: synthetic sweeps (Branin, milliseconds a trial)."""
    from tuning.cli.commands import main
    from tuning.driver.tuner import run_sweep
    from tuning.sweep.config import parse_sweep

    exp = run_sweep(
        parse_sweep(branin_sweep({"name": "optuna", "seed": 0}, {"name": "fifo"}, num_samples=3)),
        storage=str(tmp_path),
        name="more",
    )
    before = {s["trial_id"]: _results(exp, s, "value") for s in trial_states(exp)}
    assert len(before) == 3 and all(len(rows) == 3 for rows in before.values()), before
    capsys.readouterr()
    assert main(["resume", str(exp), "--more", "2"]) == 0
    out = capsys.readouterr()
    assert "extending the sweep by 2 trials, to 5" in out.err and "[5/5] trial" in out.out, out.out[-2000:]
    assert "[4/5] trial" in out.out and "[1/5]" not in out.out  # the 3 that ended before count
    old_best = min(value for rows in before.values() for _, value in rows)
    shown = [
        float(line.rsplit("sweep best ", 1)[1].rstrip(")")) for line in out.out.splitlines() if "sweep best" in line
    ]
    assert shown and all(best <= old_best for best in shown), (shown, old_best)  # the earlier trials' best counts
    states = trial_states(exp)
    assert len(states) == 5 and all(s["status"] == "TERMINATED" for s in states)
    assert {s["trial_id"]: _results(exp, s, "value") for s in states if s["trial_id"] in before} == before
    configs = [json.dumps(s["params"], sort_keys=True) for s in states]
    assert len(set(configs)) == 5, "a config was suggested twice"
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{exp / STUDY_FILE}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 5
    assert yaml.safe_load((exp / "sweep.yaml").read_text())["search"]["num_samples"] == 5
    runs = json.loads((exp / "environment.json").read_text())["runs"]
    assert [(r["command"], r["outcome"]) for r in runs] == [("run", "finished"), ("resume --more 2", "finished")]

    other = run_sweep(
        parse_sweep(branin_sweep({"name": "random"}, {"name": "fifo"}, num_samples=2, iterations=1)),
        storage=str(tmp_path),
        name="random",
    )
    files = sorted((p.relative_to(other), p.stat().st_mtime_ns) for p in other.rglob("*"))
    capsys.readouterr()
    assert main(["resume", str(other), "--more", "2"]) == 2
    assert "--more: extends a sweep whose searcher is optuna" in capsys.readouterr().err
    assert sorted((p.relative_to(other), p.stat().st_mtime_ns) for p in other.rglob("*")) == files


def test_cutting_results_keeps_progress_csv_rows_that_do_not_line_up_with_its_header(tmp_path):
    """A resumed trial's CSV rows follow its own first result's keys under the first run's header: cutting
    keeps rows by their count, the same as result.json's, and never reads a column that moved."""
    from tuning.driver.resume import _cut_results

    rows = [{"training_iteration": i, "val_loss": 1.0 / i, "done": False} for i in (1, 2, 3, 4)]
    (tmp_path / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "progress.csv").write_text(
        "training_iteration,val_loss,done\n1,1.0,False\n2,0.5,False\nFalse,3,0.33\nFalse,4,0.25\n"
    )  # the resumed run's order
    _cut_results(tmp_path, 3)
    assert [json.loads(line)["training_iteration"] for line in (tmp_path / "result.json").read_text().splitlines()] == [
        1,
        2,
        3,
    ]
    assert (tmp_path / "progress.csv").read_text().splitlines() == [
        "training_iteration,val_loss,done",
        "1,1.0,False",
        "2,0.5,False",
        "False,3,0.33",
    ]

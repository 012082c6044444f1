"""Real faults inside trials: a worker process that dies mid-epoch, a checkpoint that cannot be written."""

import json
import os
import shutil

from tests.in_process import tuning_here
from tuning.driver.tuner import resume_sweep, run_sweep
from tuning.report.load import load_report, read_results
from tuning.sweep.config import parse_sweep


def _sweep(tiny_sweep, model: dict, space: dict, searcher: str, **run) -> dict:
    tiny_sweep["model"] = model
    tiny_sweep["trainer"]["max_epochs"] = 4
    tiny_sweep["search"].update(num_samples=1, space=space, searcher={"name": searcher}, scheduler={"name": "fifo"})
    tiny_sweep["run"].update(run)
    return tiny_sweep


def test_a_worker_that_dies_mid_epoch_is_retried_from_its_checkpoint(ray_session, tmp_path, tiny_sweep):
    marker, log = tmp_path / "crashed", tmp_path / "epochs.jsonl"
    model = {
        "class_path": "tests.fault_models.CrashOnce",
        "init_args": {"crash_epoch": 2, "marker": str(marker), "log": str(log)},
    }
    sweep = _sweep(tiny_sweep, model, {"model.init_args.lr": {"choice": [0.05]}}, "random", max_failures=1)
    exp_dir = run_sweep(parse_sweep(sweep), storage=str(tmp_path), name="crash")

    assert marker.exists(), "the worker never crashed: the test proves nothing"
    [trial] = load_report(str(exp_dir)).trials
    assert trial.status == "completed" and trial.iterations == 4
    [result_file] = exp_dir.glob("trial_*/result.json")
    assert [r["training_iteration"] for r in read_results(result_file)] == [1, 2, 3, 4]  # epoch 3 once, not 1 again

    # Entries from this process come from the driver's metric preflight, not from the trial.
    entries = [e for e in map(json.loads, log.read_text().splitlines()) if e["pid"] != os.getpid()]
    first, retried = entries[0]["pid"], entries[-1]["pid"]
    assert first != retried, "the retry must run in a new worker process"
    assert [e["epoch"] for e in entries if e["pid"] == first] == [0, 1, 2]
    assert [e["epoch"] for e in entries if e["pid"] == retried] == [2, 3]  # continued at the crashed epoch
    before, after = [e for e in entries if e["epoch"] == 2]
    # The state the retry starts epoch 2 with is the state the first process had there:
    # weights, optimizer (momentum, steps), LR scheduler and the global random stream.
    for key in ("global_step", "momentum", "lr", "scheduler_epoch", "weights", "rng"):
        assert after[key] == before[key], key
    assert after["scheduler_epoch"] == 2 and after["global_step"] > 0


def test_an_unwritable_checkpoint_directory_errors_that_trial_only(ray_session, tmp_path, tiny_sweep):
    broken = tmp_path / "broken"
    broken.touch()
    model = {
        "class_path": "tests.fault_models.BlockedCheckpoint",
        "init_args": {"experiment": str(tmp_path / "blocked"), "broken": str(broken)},
    }
    sweep = _sweep(tiny_sweep, model, {"model.init_args.block": {"grid": [True, False]}}, "grid")
    sweep["trainer"]["max_epochs"] = 2
    exp_dir = run_sweep(parse_sweep(sweep), storage=str(tmp_path), name="blocked")

    trials = {t.config["model.init_args.block"]: t for t in load_report(str(exp_dir)).trials}
    assert trials[False].status == "completed" and trials[False].iterations == 2
    blocked = trials[True]
    assert blocked.status == "errored"
    assert "checkpoint_000000" in blocked.error, blocked.error
    assert blocked.checkpoint is None

    # `tuning resume --skip-errored` (the command line, in this process) leaves it, exit 3 naming it; once the
    # disk is fixed, `tuning resume` retries it.
    [error_file] = exp_dir.glob(f"trial_*{blocked.trial_id}/error.txt")  # Tune appends each failure to it
    failures = error_file.read_text()
    skipped = tuning_here("resume", str(exp_dir), "--skip-errored")
    assert skipped.returncode == 3, skipped.stderr[-3000:]
    assert f"trial {blocked.trial_id} errored: " in skipped.stderr and "1 of 2 trials errored" in skipped.stderr
    assert error_file.read_text() == failures, "--skip-errored ran the errored trial again"
    assert {t.config["model.init_args.block"]: t.status for t in load_report(str(exp_dir)).trials} == {
        True: "errored",
        False: "completed",
    }
    broken.unlink()
    [blocker] = exp_dir.glob("trial_*/checkpoint_000000")
    blocker.chmod(0o755)
    shutil.rmtree(blocker) if blocker.is_dir() else blocker.unlink()
    trials = {t.config["model.init_args.block"]: t for t in load_report(str(resume_sweep(str(exp_dir)))).trials}
    assert trials[True].status == "completed" and trials[True].iterations == 2 and trials[True].checkpoint
    assert trials[False].iterations == 2


def test_a_snapshot_that_points_at_a_deleted_checkpoint_resumes_from_the_newest_kept(ray_session, tmp_path, tiny_sweep):
    """The state a driver killed between Tune's checkpoint deletion and its next snapshot leaves behind."""
    model = {"class_path": "tests.fault_models.ScriptedLoss", "init_args": {"losses": [1.0, 2.0, 3.0]}}
    sweep = _sweep(tiny_sweep, model, {"model.init_args.lr": {"choice": [0.05]}}, "random")
    sweep["trainer"]["max_epochs"] = 3
    exp_dir = run_sweep(parse_sweep(sweep), storage=str(tmp_path), name="dangling")
    [trial_dir] = exp_dir.glob("trial_*")
    assert sorted(p.name for p in trial_dir.glob("checkpoint_*")) == ["checkpoint_000000", "checkpoint_000002"]
    # The snapshot still sees the trial running with checkpoint_000002 as its latest, which is gone.
    [state_file] = exp_dir.glob("experiment_state-*.json")
    data = json.loads(state_file.read_text())
    trial_state = json.loads(data["trial_data"][0][0])
    trial_state["status"] = "RUNNING"
    data["trial_data"][0][0] = json.dumps(trial_state)
    state_file.write_text(json.dumps(data))
    shutil.rmtree(trial_dir / "checkpoint_000002")

    # `tuning resume` in the process and Ray session that ran the sweep (as Experiment.resume after tuning.run in a
    # notebook): Tune's staged copy of the trial's results from that run uploaded the cut rows back (epochs 2 and 3
    # twice) until resume dropped it (tuning.compat.tune.drop_stale_staging). A new process: tests/tuning/driver/
    # test_resume.py.
    done = tuning_here("resume", str(exp_dir))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "continuing from the newest checkpoint still on disk" in done.stderr
    [trial] = load_report(str(exp_dir)).trials
    assert trial.status == "completed"
    # Continued from checkpoint_000000 (the best, kept): epochs 2 and 3 ran again, each logged once.
    assert [r["training_iteration"] for r in read_results(trial_dir / "result.json")] == [1, 2, 3]
    assert len((trial_dir / "progress.csv").read_text().splitlines()) == 4

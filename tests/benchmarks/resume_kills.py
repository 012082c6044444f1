"""What a killed driver loses on URI storage (issue 16): a sweep on `file://` storage, its driver SIGKILLed at random
moments (each `tuning run`/`tuning resume` in turn, with every process it started), then resumed to the end.

Counts, over all kills: trials lost (the finished sweep has fewer than num_samples trials, or one not finished),
configs repeated among the sweep's trials, study trials told twice (one Tune trial COMPLETE or PRUNED twice), study
trials Tune's state does not name (proposals lost between two snapshots, settled FAIL by the resume), and the epochs
computed again. Baseline in the same run: the same sweep, never killed. Prints one JSON line.

    python tests/benchmarks/resume_kills.py [--kills 10] [--samples 150] [--seed 0]
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.processes import kill_group  # noqa: E402
from tuning.driver.resume import trial_states  # noqa: E402
from tuning.report.load import read_results  # noqa: E402


def sweep(samples: int) -> dict:
    data = yaml.safe_load((ROOT / "tuning" / "sweeps" / "synthetic.yaml").read_text())
    data["search"]["num_samples"] = samples
    data["objective"]["iterations"] = 9
    return data


def start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tuning", *args],
        cwd=ROOT,
        start_new_session=True,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


def until_trials_start(proc, exp_dir: Path, timeout: float = 120) -> bool:
    """Wait until this driver has saved its first snapshot of Tune's state (each run or resume starts a file of its
    own), so trials are running; False if it ended first."""
    before = set(exp_dir.glob("experiment_state-*.json"))
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if set(exp_dir.glob("experiment_state-*.json")) - before:
            return True
        time.sleep(0.05)
    return False


def count(exp_dir: Path, samples: int) -> dict:
    states = trial_states(exp_dir)
    configs = [json.dumps(s["params"], sort_keys=True) for s in states]
    study = optuna.load_study(study_name="tuning", storage=f"sqlite:///{exp_dir / 'optuna.db'}")
    told = [
        t.user_attrs.get("tune_trial_id")
        for t in study.trials
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    known = {s["trial_id"] for s in states}
    epochs = sum(len(read_results(exp_dir / s["relative_logdir"] / "result.json")) for s in states)
    return {
        "trials": len(states),
        "lost": samples - sum(s["status"] == "TERMINATED" for s in states),
        "repeated_configs": len(configs) - len(set(configs)),
        "told_twice": len(told) - len(set(told)),
        "study_orphans": sum(t.user_attrs.get("tune_trial_id") not in known for t in study.trials),
        "study_running": sum(t.state == optuna.trial.TrialState.RUNNING for t in study.trials),
        "epochs_kept": epochs,
    }


def run(kills: int, samples: int, seed: int, work: Path) -> dict:
    rng = random.Random(seed)
    (work / "sweep.yaml").write_text(yaml.safe_dump(sweep(samples)))
    log = work / "log.txt"
    t0 = time.monotonic()
    base = start(["run", str(work / "sweep.yaml"), "--storage", f"file://{work}/runs", "--name", "base"], log)
    assert base.wait(timeout=900) == 0, log.read_text()[-3000:]
    baseline_s = time.monotonic() - t0
    exp, exp_dir = f"file://{work}/runs/killed", work / "runs" / "killed"
    t0, done, moments = time.monotonic(), 0, []
    args = ["run", str(work / "sweep.yaml"), "--storage", f"file://{work}/runs", "--name", "killed"]
    while done < kills:
        proc = start(args, log)
        args = ["resume", exp]
        if not until_trials_start(proc, exp_dir):
            kill_group(proc)
            if proc.returncode == 0:  # the sweep ended before a kill could land
                break
            continue
        moments.append(round(rng.uniform(0.0, 2.0), 2))
        time.sleep(moments[-1])
        if proc.poll() is not None:
            break
        kill_group(proc)
        done += 1
    final = start(["resume", exp], log)
    assert final.wait(timeout=900) == 0, log.read_text()[-3000:]
    text = log.read_text()
    repairs = {
        "half_lines_cut": text.count("removed a half-written last line"),
        "search_state_settled": text.count("the search state disagreed"),
        "checkpoints_repointed": text.count("newest checkpoint still on disk"),
    }
    return {
        "kills": done,
        "repairs": repairs,
        "kill_after_snapshot_s": moments,
        "baseline_wall_s": round(baseline_s, 1),
        "killed_wall_s": round(time.monotonic() - t0, 1),
        "baseline": count(work / "runs" / "base", samples),
        **count(exp_dir, samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuning-kills-") as work:
        figures = run(args.kills, args.samples, args.seed, Path(work))
    figures["goal_met"] = (
        figures["lost"] == 0
        and figures["repeated_configs"] == 0
        and figures["told_twice"] == 0
        and figures["trials"] == args.samples
        and figures["study_running"] == 0
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# GPU check of the trial worker (issue 3, item 8): the quickstart sweep with resources.gpu 0.25 and
# bf16-mixed packs four trials onto one GPU. Baseline, same run: the same sweep at resources.gpu 1.
# While each sweep runs, nvidia-smi's compute processes are sampled every 2 s. A sampled process counts
# as a trial only when its pid is one a trial wrote into its trial.json (tuning records os.getpid() of
# the trial's process) and is not the driver's: the driver's metric check runs on the GPU too, before
# any trial. Processes that are neither (another user, a pid namespace nvidia-smi does not share) are
# listed apart, never counted. The trials' own start and end times (result.json) give concurrency
# independently of nvidia-smi. Prints the samples, then one JSON line.
# Needs a machine with one NVIDIA GPU and the project's venv. Runs in about 5-8 minutes.
#
#   bash tests/benchmarks/gpu_check.sh              # both sweeps, then the JSON line
#   bash tests/benchmarks/gpu_check.sh analyse OUT  # the JSON line again from a finished run's OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}

analyse() {  # analyse OUT: one JSON line from OUT/<setting>/{samples.txt,driver.pid,wall_s,runs/}
  "$PY" - "$1" <<'PYEOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])


def overlap(intervals):
    """The most intervals open at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def setting(folder: Path) -> dict:
    exp = folder / "runs" / "gpu-check"
    trials = [json.loads(p.read_text()) for p in sorted(exp.glob("trial_*/trial.json"))]
    trial_pids = {int(t["pid"]) for t in trials}
    driver = int((folder / "driver.pid").read_text())
    intervals = []
    for result in exp.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        if rows:
            intervals.append((rows[-1]["timestamp"] - rows[-1]["time_total_s"], rows[-1]["timestamp"]))
    peak, trial_mib, driver_mib, others = 0, {}, 0, {}
    for line in (folder / "samples.txt").read_text().splitlines():
        apps = [a.split(",") for a in line.split(" ", 1)[1].strip().split(";") if a.strip()]
        apps = [(int(pid), int(mib) if mib.strip().isdigit() else 0) for pid, mib in apps]  # "[N/A]" MiB: 0
        here = [(pid, mib) for pid, mib in apps if pid in trial_pids and pid != driver]
        peak = max(peak, len(here))
        for pid, mib in apps:
            if pid == driver:
                driver_mib = max(driver_mib, mib)
            elif pid in trial_pids:
                trial_mib[pid] = max(trial_mib.get(pid, 0), mib)
            else:
                others[pid] = max(others.get(pid, 0), mib)
    return {"trials": len(trials), "trial_processes": len(trial_pids), "wall_s": int((folder / "wall_s").read_text()),
            "max_trials_at_once_by_their_times": overlap(intervals),
            "max_trial_processes_on_gpu_at_once": peak,
            "gpu_mib_per_trial_process": {str(p): m for p, m in sorted(trial_mib.items())},
            "driver_gpu_mib": driver_mib, "driver_counted_as_trial": driver in trial_pids,
            "unidentified_gpu_processes": {str(p): m for p, m in sorted(others.items())}}


packed, baseline = setting(out / "gpu-0.25"), setting(out / "gpu-1")
print(json.dumps({"benchmark": "gpu_check", "gpu_0.25": packed, "gpu_1 (baseline)": baseline,
                  "speedup_over_gpu_1": round(baseline["wall_s"] / packed["wall_s"], 2),
                  "four_at_once": min(packed["max_trials_at_once_by_their_times"],
                                      packed["max_trial_processes_on_gpu_at_once"]) >= 4,
                  "baseline_one_at_once": baseline["max_trials_at_once_by_their_times"] == 1}))
PYEOF
}

if [[ "${1:-}" == "analyse" ]]; then
  analyse "$2"
  exit 0
fi

OUT=${OUT:-$(mktemp -d)}
trap 'jobs -p | xargs -r kill 2>/dev/null || true' EXIT  # a sampler or driver left by a failed step
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch has no CUDA: install a CUDA build of torch'"

sweep() {  # sweep GPU: the quickstart at resources.gpu GPU into $OUT/gpu-GPU, sampled by nvidia-smi
  local dir="$OUT/gpu-$1" sampler driver start
  mkdir -p "$dir"
  (
    while true; do
      echo "t=$(date +%s) $(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | tr '\n' ';')"
      sleep 2
    done
  ) > "$dir/samples.txt" &
  sampler=$!
  start=$(date +%s)
  "$PY" -m tuning run quickstart --storage "$dir/runs" --name gpu-check \
    --set resources.gpu="$1" --set resources.cpu=1 --set resources.max_concurrent=4 \
    --set trainer.accelerator=gpu --set trainer.precision=bf16-mixed \
    --set search.num_samples=8 --set trainer.max_epochs=4 > "$dir/run.log" 2>&1 &
  driver=$!
  echo "$driver" > "$dir/driver.pid"
  wait "$driver" || { kill "$sampler" 2>/dev/null || true; tail -n 40 "$dir/run.log"; exit 1; }
  echo $(( $(date +%s) - start )) > "$dir/wall_s"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  echo "== gpu $1: nvidia-smi samples (pid,MiB;...)"
  cat "$dir/samples.txt"
}

sweep 0.25
sweep 1
analyse "$OUT"

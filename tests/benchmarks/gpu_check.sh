#!/usr/bin/env bash
# GPU check of the trial worker (issue 3, item 8): a quickstart sweep with resources.gpu 0.25 and
# bf16-mixed packs four trials onto one GPU. Prints, every 2 s, how many trials run at once and each
# trial process's GPU memory (nvidia-smi), then one JSON line with the peak concurrency and memory.
# Needs a machine with one NVIDIA GPU and the project's venv. Runs in about 3-5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-$(mktemp -d)}
LOG="$OUT/gpu_samples.txt"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PY" -c "import torch; assert torch.cuda.is_available(), 'torch has no CUDA: install a CUDA build of torch'"

# Sample the GPU's compute processes while the sweep runs.
(
  while true; do
    echo "t=$(date +%s) $(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | tr '\n' ';')"
    sleep 2
  done
) > "$LOG" &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null || true' EXIT

start=$(date +%s)
.venv/bin/tuning run quickstart --storage "$OUT/runs" --name gpu-check \
  --set resources.gpu=0.25 --set resources.cpu=1 --set resources.max_concurrent=4 \
  --set trainer.accelerator=gpu --set trainer.precision=bf16-mixed \
  --set search.num_samples=8 --set trainer.max_epochs=4
wall=$(( $(date +%s) - start ))
kill $SAMPLER 2>/dev/null || true

"$PY" - "$LOG" "$OUT/runs/gpu-check" "$wall" <<'PYEOF'
import json, sys
from pathlib import Path

log, exp, wall = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
peak, per_pid = 0, {}
for line in open(log):
    apps = [a.split(",") for a in line.split(" ", 1)[1].strip().split(";") if a.strip()]
    peak = max(peak, len(apps))
    for pid, mib in apps:
        per_pid[pid.strip()] = max(per_pid.get(pid.strip(), 0), int(mib))
    print(line.strip())
trials = sorted(exp.glob("trial_*/trial.json"))
pids = {json.loads(p.read_text())["pid"] for p in trials}
print(json.dumps({"benchmark": "gpu_check", "trials": len(trials), "wall_s": wall,
                  "peak_processes_on_gpu": peak, "four_at_once": peak >= 4,
                  "gpu_mib_per_trial_process": {p: m for p, m in per_pid.items() if int(p) in pids} or per_pid}))
PYEOF

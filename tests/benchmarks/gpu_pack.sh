#!/usr/bin/env bash
# GPU check of issue 7, item 6: `gpu: 0.25` runs four trials at once on one GPU with bf16-mixed;
# prints per-trial GPU memory and the sweep's wall time against `gpu: 1` (tests/benchmarks/gpu_pack.py),
# as ONE JSON line, also written to $OUT/gpu_pack.json. Budget: under 10 minutes on one H100.
#
#   bash tests/benchmarks/gpu_pack.sh            # on a machine with a GPU and the project installed
#
# On this workplace's lent device machines (python3.12 with torch and lightning, no network, no ray):
# Ray and the other missing packages travel as wheels. Ray 2.60.0's wheel (about 76 MiB) is larger than
# the 64 MiB one call may carry, so it travels split over two calls on the same warm machine:
#   here:   bash tests/benchmarks/gpu_pack.sh prepare      # fills .whl-a/ and .whl-b/ (git-ignored)
#   call 1: run(command="bash tests/benchmarks/gpu_pack.sh stage", carry=[".whl-a"])
#   call 2: run(command="bash tests/benchmarks/gpu_pack.sh", carry=[".whl-b"])   # within the warm window
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu_pack_out}
mkdir -p "$OUT"

WHEELS=(ray==2.60.0 optuna alembic sqlalchemy mako colorlog pydantic pydantic-core annotated-types
        typing-inspection jsonschema jsonschema-specifications referencing rpds-py greenlet tensorboardX)

if [[ "${1:-}" == "prepare" ]]; then
  for d in .whl-a .whl-b; do grep -qx "/$d/" .git/info/exclude || echo "/$d/" >> .git/info/exclude; done
  rm -rf .whl-a .whl-b .whl-tmp && mkdir -p .whl-a .whl-b .whl-tmp
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl-tmp "${WHEELS[@]}"
  ray_wheel=$(ls .whl-tmp/ray-*.whl)
  split -b 40M "$ray_wheel" ".whl-a/$(basename "$ray_wheel").part-"
  mv .whl-a/*.part-ab .whl-b/ && mv .whl-tmp/*.whl .whl-b/ && rm -f ".whl-b/$(basename "$ray_wheel")"
  rm -rf .whl-tmp && du -sh .whl-a .whl-b
  exit 0
fi
if [[ "${1:-}" == "stage" ]]; then  # call 1: keep the first half where call 2 finds it
  mkdir -p /tmp/gpu_pack_wheels && cp .whl-a/* /tmp/gpu_pack_wheels/ && ls -la /tmp/gpu_pack_wheels
  exit 0
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if ! python3 -c "import ray, optuna, pydantic" 2>/dev/null; then
  [[ -d .whl-b && -d /tmp/gpu_pack_wheels ]] || { echo '{"benchmark": "gpu_pack", "error": "ray/optuna/pydantic missing and no staged wheels (see the header)"}' | tee "$OUT/gpu_pack.json"; exit 3; }
  cp .whl-b/*.part-* /tmp/gpu_pack_wheels/
  name=$(ls /tmp/gpu_pack_wheels/*.part-aa); name=${name%.part-aa}
  cat "$name".part-* > "$name" && rm "$name".part-*
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$name" $(ls .whl-b/*.whl)
  export PYTHONPATH=/tmp/site
fi
# The project itself needs no install: its packages sit at the repository root.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# nvidia-smi's view of each trial process's memory (CUDA context included), every 2 s, beside the
# benchmark's own torch.cuda peaks.
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader -l 2 > "$OUT/nvidia_smi_apps.csv" &
smi=$!
trap 'kill $smi 2>/dev/null || true' EXIT
set -o pipefail
timeout 540 python3 tests/benchmarks/gpu_pack.py --trials 8 --epochs 10 2>"$OUT/gpu_pack.stderr" \
  | tail -n 1 | tee "$OUT/gpu_pack.json"

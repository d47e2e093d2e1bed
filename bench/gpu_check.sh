#!/usr/bin/env bash
# GPU check, on a machine with an NVIDIA GPU and DAF's GPU install (`make install TORCH_VERSION=2.9.0
# PUFFERLIB=wheel`):
#   bench/gpu_check.sh [agent steps, default 131072]
# 1. gpu_training_job as a user runs it (`dagster job execute`, in process: no Docker needed), on a fresh
#    instance and output root; its training_checkpoints metadata (device, GPUs seen, workers, SPS) goes to
#    bench/results/gpu_training_job_<steps>.json.
# 2. The training benchmark on the GPU: cogames.train against DAF on the same work and device, written to
#    bench/results/gpu_training_<steps>.json.
# Stops at the first failure; a machine where torch sees no CUDA device is refused before anything runs.
set -euo pipefail

STEPS="${1:-131072}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="$REPO/.venv/bin/python"
RESULTS="$REPO/bench/results"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

"$PY" -c 'import sys, torch; n = torch.cuda.device_count(); print(f"{n} CUDA device(s), torch {torch.__version__}"); sys.exit(n == 0)' \
  || { echo "gpu_check: torch sees no CUDA device; install the GPU route (see the Makefile)" >&2; exit 1; }

mkdir -p "$SCRATCH/home" "$RESULTS"
cp "$REPO/dagster.yaml" "$SCRATCH/home/dagster.yaml"
cat > "$SCRATCH/steps.yaml" <<EOF
ops: {training_checkpoints: {config: {num_steps: $STEPS}}}
EOF
export DAGSTER_HOME="$SCRATCH/home" DAF_OUTPUT_ROOT="$SCRATCH/out" DAF_DEPLOYMENT=local OMP_NUM_THREADS=1
"$REPO/.venv/bin/dagster" job execute -m daf_dagster.definitions -j gpu_training_job \
  -c "$REPO/configs/dagster/gpu_training_job.yaml" -c "$SCRATCH/steps.yaml" \
  --tags '{"dagster/partition": "gpu_check"}'

"$PY" - "$RESULTS/gpu_training_job_$STEPS.json" <<'EOF'
import json, sys
import dagster as dg
with dg.DagsterInstance.get() as instance:
    event = instance.get_latest_materialization_event(dg.AssetKey("training_checkpoints"))
    values = {k: v.value for k, v in event.asset_materialization.metadata.items()}
keys = ("device", "gpu_count", "gpu_names", "executor", "hardware", "num_workers", "steps", "sps", "wall_time_s")
result = {key: values[key] for key in keys}
print(json.dumps(result, indent=2))
if result["gpu_count"] == 0 or not str(result["device"]).startswith("cuda"):
    sys.exit(f"gpu_training_job trained on {result['device']} with {result['gpu_count']} GPU(s) seen")
with open(sys.argv[1], "w") as out:
    json.dump(result, out, indent=2)
EOF

GPUS="$("$PY" -c "import torch; print(torch.cuda.device_count())")"
"$PY" "$REPO/bench/bench_training.py" --device cuda --steps "$STEPS" --parallel-workers "$GPUS" \
  --output "$RESULTS/gpu_training_$STEPS.json"

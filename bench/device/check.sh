#!/bin/bash
# One device session's checks, run from the repo root after `source .device/setup.sh` (../shared/device/pack):
# the GEMM tile sweep, the default kernel benchmark beside TF.js, and the GEMM test files on the GPU's own
# tile choices. Everything lands in $OUT; the last lines printed are the summary.
set -u
export XDG_RUNTIME_DIR=/tmp
out=${OUT:-/tmp/out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
timeout 150 npm run bench -- kernels --no-tfjs --tile all --write --results-file "$out/sweep.md" > "$out/sweep.log" 2>&1
echo "sweep exit $?"
timeout 120 npm run bench -- kernels --write --results-file "$out/RESULTS.md" > "$out/default.log" 2>&1
echo "default exit $?"
CONVIS_GEMM_TILE= CONVIS_REQUIRE_WEBGPU=1 timeout 150 node scripts/run-tests.mjs conv linalg large tape > "$out/tests.log" 2>&1
echo "tests exit $?"
grep -E "^# ---- .*passed|^tests:|not ok" "$out/tests.log" | head -20
grep -E "^(matmul|conv2d)" "$out/default.log" | head -20

#!/bin/bash
# One device session's saliency measurements (issues 5 and 8), run from the repo root after
# `source .device/setup.sh` (../shared/device/pack --exclude onnxruntime-node --exclude typescript ...):
# the per-dispatch profile of a VGG16 saliency call at 224, the end-to-end saliency benchmark beside TF.js (convis
# webgpu only: the cpu backend at batch 32 takes a minute there), the kernel benchmark, and the linalg / vis / conv
# tests on the GPU's own tile choices, with the GPU's clocks sampled every 200 ms throughout. Logs and RESULTS.md
# sections land in $OUT; the last lines printed are the summary. STEPS picks the steps (default: all but the tile
# sweep, in order; "sweep" profiles batch 32 with every GEMM pinned to each GPU tile in turn).
set -u
export XDG_RUNTIME_DIR=/tmp
out=${OUT:-/tmp/out}
mkdir -p "$out"
steps=${STEPS:-profile saliency kernels tests}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,pstate --format=csv -lms 200 > "$out/clocks.csv" 2>&1 &
sampler=$!
step() { local name=$1 limit=$2; shift 2; local t0=$SECONDS
  echo "$(date -u +%T) $name start" >> "$out/gpu.txt"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1; echo "$name: exit $? in $((SECONDS - t0)) s"; }
for s in $steps; do
  case $s in
    profile) step profile 150 npm run bench -- profile --write --results-file "$out/RESULTS.md" ;;
    sweep) step sweep 150 npm run bench -- profile --batches 32 --tiles gpu --write --results-file "$out/sweep.md" ;;
    saliency) step saliency 150 npm run bench -- saliency --size 224 --batches 1,32 --backends webgpu --write --results-file "$out/RESULTS.md" ;;
    kernels) step kernels 120 npm run bench -- kernels --write --results-file "$out/RESULTS.md" ;;
    tests) CONVIS_GEMM_TILE= CONVIS_REQUIRE_WEBGPU=1 step tests ${TESTS_LIMIT:-150} node scripts/run-tests.mjs ${TESTS:-test/ops/linalg test/vis} ;;
  esac
done
kill $sampler 2>/dev/null
cat "$out/gpu.txt"
grep -E "^(batch|per call|conv forward|conv backward|matmul|elementwise|split)" "$out/profile.log" 2>/dev/null
grep -E "^(webgpu|TF.js)|^check|failed" "$out/saliency.log" 2>/dev/null
grep -E "^# ---- .*passed|^tests:|^not ok" "$out/tests.log" 2>/dev/null | head -12
grep -E "^conv2d" "$out/kernels.log" 2>/dev/null | head -14

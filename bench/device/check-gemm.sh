#!/bin/bash
# A short device check: the GEMM test files on the GPU's own tile choices (wide8, medium, large, split-K),
# then the kernel benchmark for convis alone. Run from the repo root after `source .device/setup.sh`.
set -u
out=${OUT:-/tmp/out}
mkdir -p "$out"
CONVIS_GEMM_TILE= CONVIS_REQUIRE_WEBGPU=1 timeout 100 node scripts/run-tests.mjs linalg > "$out/tests.log" 2>&1
echo "tests exit $?"
timeout 60 npm run bench -- kernels --no-tfjs --quick --write --results-file "$out/RESULTS.md" > "$out/bench.log" 2>&1
echo "bench exit $?"
grep -E "^# ---- .*passed|^tests:|not ok" "$out/tests.log" | head -20
grep -E "^(matmul|conv2d)" "$out/bench.log" | head -20

#!/bin/bash
# One device session's saliency measurements (issues 5 and 8), run from the repo root after
# `source .device/setup.sh` (../shared/device/pack --exclude onnxruntime-node --exclude typescript ...):
# the per-dispatch profile of a VGG16 saliency call at 224 (where the convolution autotuner, starting from an empty
# cache, times its candidates), the end-to-end saliency benchmark beside TF.js (convis webgpu only: the cpu backend
# at batch 32 takes a minute there), the same benchmark with the tuner off (the fixed rules), and the conv / tuner /
# vis tests on the GPU's own tile choices, with the GPU's clocks sampled every 200 ms throughout. Logs, RESULTS.md
# sections and the tuner's cache (tune.json) land in $OUT; the last lines printed are the summary. STEPS picks the
# steps (default: profile saliency baseline tests; "kernels" runs the kernel benchmark, "sweep" profiles batch 32
# with every GEMM pinned to each GPU tile in turn, "repeat" runs the saliency benchmark REPEATS times with the clock
# sampler off and on in turn; CLOCKS=0: no sampler). PROFILE_LIMIT, SALIENCY_LIMIT, REPEAT_LIMIT and TESTS_LIMIT
# change the steps' time limits in seconds; TESTS, the test files.
set -u
export XDG_RUNTIME_DIR=/tmp
out=${OUT:-/tmp/out}
mkdir -p "$out"
export CONVIS_TUNE_CACHE="$out/tune.json"
steps=${STEPS:-profile saliency baseline tests}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
sample() { nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,pstate --format=csv,noheader -lms 200 >> "$out/clocks.csv" 2>&1 &
  sampler=$!; }
sampler=
echo 'timestamp, clocks.current.sm [MHz], clocks.current.memory [MHz], power.draw [W], utilization.gpu [%], pstate' > "$out/clocks.csv"
[ "${CLOCKS:-1}" = 0 ] || sample
step() { local name=$1 limit=$2; shift 2; local t0=$SECONDS
  echo "$(date -u +%T) $name start" >> "$out/gpu.txt"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1; echo "$name: exit $? in $((SECONDS - t0)) s"; }
for s in $steps; do
  case $s in
    profile) step profile ${PROFILE_LIMIT:-150} npm run bench -- profile --write --results-file "$out/RESULTS.md" ;;
    sweep) step sweep 150 npm run bench -- profile --batches 32 --tiles gpu --write --results-file "$out/sweep.md" ;;
    saliency) step saliency ${SALIENCY_LIMIT:-150} npm run bench -- saliency --size 224 --batches 1,32 --backends webgpu --write --results-file "$out/RESULTS.md" ;;
    baseline) CONVIS_AUTOTUNE=0 step baseline 90 npm run bench -- saliency --size 224 --batches 1,32 --backends webgpu --no-tfjs --write --results-file /tmp/baseline.md ;;
    repeat)
      # the same saliency benchmark REPEATS times (default 4), the clock sampler off and on in turn (CLOCKS=0: off
      # throughout): between processes batch 1 took 2.99-4.94 ms on an H200, the sampler on in the two slower
      # runs. A tuner cache not yet written is filled by an untimed first run, so no timed run includes tuning.
      [ -s "$CONVIS_TUNE_CACHE" ] || step repeat0-tuning ${REPEAT_LIMIT:-90} npm run bench -- saliency --size 224 --batches 1,32 --backends webgpu --no-tfjs --no-write
      was=$sampler
      for i in $(seq 1 "${REPEATS:-4}"); do
        if [ $((i % 2)) = 1 ] || [ "${CLOCKS:-1}" = 0 ]; then [ -z "$sampler" ] || { kill $sampler; sampler=; }; tag=off
        else [ -n "$sampler" ] || sample; tag=on; fi
        step repeat$i-sampler-$tag ${REPEAT_LIMIT:-90} npm run bench -- saliency --size 224 --batches 1,32 --backends webgpu --no-tfjs --no-write
      done
      # the sampler as it was before the step
      if [ -n "$was" ]; then [ -n "$sampler" ] || sample; elif [ -n "$sampler" ]; then kill $sampler; sampler=; fi ;;
    kernels) step kernels 120 npm run bench -- kernels --write --results-file "$out/RESULTS.md" ;;
    tests) CONVIS_TUNE_CACHE=/tmp/tests-tune.json CONVIS_GEMM_TILE= CONVIS_REQUIRE_WEBGPU=1 step tests ${TESTS_LIMIT:-120} node scripts/run-tests.mjs ${TESTS:-test/ops/conv test/ops/autotune test/backends/bindgroups test/models/nn test/vis} ;;
  esac
done
[ -z "$sampler" ] || kill $sampler 2>/dev/null
cat "$out/gpu.txt"
grep -E "^(batch|per call|plain|conv forward|conv backward|Winograd|matmul|elementwise|split)" "$out/profile.log" 2>/dev/null
grep -E "^(webgpu|TF.js)|^check|failed" "$out/saliency.log" 2>/dev/null
grep -E "^webgpu" "$out/baseline.log" 2>/dev/null | sed 's/^/tuner off: /'
for f in "$out"/repeat*.log; do [ -f "$f" ] && grep -E "size 224 batch" "$f" | sed "s|^|$(basename "$f" .log): |"; done
grep -cE '"(fwd|dx) ' "$out/tune.json" 2>/dev/null | sed 's/^/tuned shapes: /'
grep -E "^# ---- .*passed|^tests:|^not ok" "$out/tests.log" 2>/dev/null | head -12
grep -E "^conv2d" "$out/kernels.log" 2>/dev/null | head -14

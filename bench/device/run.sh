#!/bin/bash
# Runs on the device machine from the repo root (see build.sh): the default kernel benchmark, then a sweep of
# every GEMM tile, writing $OUT/RESULTS.md; the whole output goes to $OUT/log.txt.
set -u
G=bench/out/gpu
if command -v node >/dev/null; then NODE=$(command -v node); else gunzip -c $G/node.gz > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node; fi
gunzip -kf $G/dist/linux-x64/dawn.node.gz
# the NVIDIA ICD (libGLX_nvidia) needs glvnd's libGLdispatch; the image may have neither it nor libvulkan
if ! ldconfig -p | grep -q libGLdispatch.so.0 || ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in $G/debs/*.deb; do dpkg -x $f /; done
  ldconfig
fi
export CONVIS_BENCH_SOURCE="$(cat $G/source.txt)"
run() { echo "=== kernels $*"; timeout 240 $NODE $G/index.mjs kernels "$@" 2>&1 | grep -v '^Warning: max'; }
{
  echo "node $($NODE --version)"; nvidia-smi -L 2>/dev/null
  run --write --results-file $OUT/RESULTS.md "$@" | tee /tmp/first.log
  grep -q "no WebGPU adapter" /tmp/first.log && exit 1
  run --tile all --no-tfjs --write --results-file $OUT/RESULTS.md "$@"
  echo done
} 2>&1 | tee $OUT/log.txt

#!/bin/bash
# Packs the kernel benchmark for a machine without Node or npm (the lent H100/H200): esbuild bundles of
# bench/index.ts and bench/tfjs-peer.ts, dawn.node, this machine's node binary, and the Vulkan loader and glvnd
# packages that NVIDIA's Vulkan driver needs, into bench/out/gpu (ignored by git, about 45 MB).
# Then, on the device tool: run `bash bench/out/gpu/run.sh` with carry ["bench/out/gpu"]; RESULTS.md and
# log.txt come back in $OUT. Merge the RESULTS.md sections into bench/RESULTS.md (bench/README.md says how).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=bench/out/gpu
mkdir -p $out/dist/linux-x64 $out/debs
# the bundles sit three folders below the root, where src/backend/webgpu/context.ts finds kernels/ from them
banner="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
for f in index tfjs-peer; do
  npx esbuild bench/$f.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --banner:js="$banner" --outfile=$out/$f.mjs
done
gzip -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > $out/dist/linux-x64/dawn.node.gz
[ -f $out/node.gz ] || gzip -6 -c "$(command -v node)" > $out/node.gz
(cd $out/debs && apt-get download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2 2>/dev/null)
src=$(npx tsx -e "import('./bench/machine.ts').then((m) => console.log(m.sourceRevision()))")
diffstat=$(git --no-optional-locks diff --stat -- src kernels | tail -1 | sed 's/^ *//')
echo "$src${diffstat:+ ($diffstat)}" > $out/source.txt
cp bench/device/run.sh $out/run.sh
du -sh $out

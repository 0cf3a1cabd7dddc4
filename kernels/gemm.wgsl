// Register-tiled GEMM, C[b](m, n) = sum_k A[b](m, k) * B[b](k, n), specialised by the generator in
// src/backend/webgpu/gemm.ts. The same skeleton serves dense matmul (strided loaders, so transposes are
// free) and convolution as an implicit GEMM (im2col done inside load_b / load_a, never materialised).
// Tile: BM x BN outputs per workgroup, BK deep; each thread owns TM rows x (4 * RN) columns held in vec4
// accumulators, its columns interleaved in groups of 4 so neighbouring threads read neighbouring vec4s.

{{PARAMS}}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
{{EXTRA_BINDINGS}}

const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const WGX = {{WGX}}u;
const WGY = {{WGY}}u;
const NT = WGX * WGY;

var<workgroup> As: array<vec4<f32>, {{AS_VEC4}}>;   // [BK][BM / 4]
var<workgroup> Bs: array<vec4<f32>, {{BS_VEC4}}>;   // [BK][BN / 4]

{{LOADERS}}

@compute @workgroup_size({{WGX}}, {{WGY}}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let tx = lid3.x;
  let ty = lid3.y;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  // z enumerates (batch or group) x K-slice: with split-K each slice writes its partial sum at
  // split * P.split_stride and kernels/splitk.wgsl adds the slices up
  let batch = wid.z / P.splits;
  let split = wid.z % P.splits;
  let k_lo = split * P.k_slice;
  let k_hi = min(P.K, k_lo + P.k_slice);
{{PROLOGUE}}
{{ACC_DECL}}
  // With prefetch (GPUs), the next tile's global loads go into registers before the current tile's
  // arithmetic, so their latency hides behind it; the loaders return 0.0 past K, so the last prefetch is
  // harmless. Without it (CPU adapters, where it only doubles the code to compile) loads precede stores.
  var kt = k_lo;
{{PRELOAD}}
  for (var k0 = k_lo; k0 < k_hi; k0 += BK) {
{{TILE_TOP}}
    workgroupBarrier();
{{AFTER_BARRIER}}
    for (var kk = 0u; kk < BK; kk++) {
{{INNER}}
    }
    workgroupBarrier();
  }
{{EPILOGUE}}
}

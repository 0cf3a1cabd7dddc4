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
  let batch = wid.z;
{{PROLOGUE}}
{{ACC_DECL}}
  for (var k0 = 0u; k0 < P.K; k0 += BK) {
{{TILE_LOADS}}
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
{{INNER}}
    }
    workgroupBarrier();
  }
{{EPILOGUE}}
}

// Matmul with at most 4 rows, out[m, n] = sum_k A[m, k] B[k, n] (+ bias[n], + out, relu): a batch-1 linear
// layer and its input gradient. A register tile of the GEMM would leave most of its rows idle here, so each
// invocation owns {{COLS}} consecutive columns for all the rows and walks K once, keeping ROWS x COLS sums in
// registers. Operands are strided (transposes are free); the K loop is unrolled by 4. Where an operand's
// contiguous axis is 16-byte aligned it is bound as vec4s ({{A_TYPE}} A, {{B_TYPE}} B here): one load of four
// floats instead of four, which on llvmpipe (every per-lane address a separate load) is most of the cost.

struct Params {
  M: u32, N: u32, K: u32, scm: u32,     // scm: the output's row stride (N, or the full width of a split)
  a_base: u32, b_base: u32, c_base: u32, bias_base: u32,
  sam: u32, sak: u32, sbk: u32, sbn: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<{{A_TYPE}}>;
@group(0) @binding(3) var<storage, read> b: array<{{B_TYPE}}>;
{{BIAS_BINDING}}

const WG = 64u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let n0 = ((wid.y * nwg.x + wid.x) * WG + lid) * {{COLS}}u;
  if (n0 >= P.N) { return; }
  // columns past N read the last column again; they are not stored
  let last = P.N - 1u;
  // rows past M read the last row again; they are not stored
  let mlast = P.M - 1u;
{{SETUP}}
  var k = 0u;
  for (; k + 4u <= P.K; k += 4u) {
{{STEP4}}
  }
  for (; k < P.K; k++) {
{{STEP1}}
  }
{{EPILOGUE}}
}

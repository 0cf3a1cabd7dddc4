// Matmul with at most 4 rows on a GPU, out[m, n] = sum_k A[m, k] B[k, n] (+ bias[n], + out, relu): a batch-1
// linear layer (B = Wᵀ, contiguous along k: mode 'k') and its input gradient (B = W, contiguous along n: mode
// 'n'). Both read B, the big operand, exactly once with 16-byte loads that neighbouring invocations make to
// neighbouring addresses, and spread K over the workgroup's invocations, so that enough loads are in flight to
// approach memory bandwidth; a tree in workgroup memory then sums the invocations' partial sums.
//
// Invocation lid = tk * TN + tn:
//   mode 'k': TN = 1; the workgroup owns 4 columns (4 rows of W); invocation tk takes k-vectors tk, tk + TK, ...
//   mode 'n': TN = {{TN}}; invocation tn owns columns 4 tn .. 4 tn + 3 of the workgroup's 4 TN; tk takes rows
//             k = tk, tk + TK, ... of B.
// acc{m} holds row m's four columns.

struct Params {
  M: u32, N: u32, K: u32, scm: u32,     // scm: the output's row stride
  a_base: u32, b_base: u32, c_base: u32, bias_base: u32,
  sam: u32, sak: u32, sbk: u32, sbn: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<{{A_TYPE}}>;
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;
{{BIAS_BINDING}}

const WG = 256u;
const TN = {{TN}}u;
const TK = WG / TN;
const ROWS = {{ROWS}}u;

var<workgroup> red: array<vec4<f32>, {{RED}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = wid.y * nwg.x + wid.x;
  let tn = lid % TN;
  let tk = lid / TN;
  // the first of this invocation's four columns
  let n0 = (group * TN + tn) * 4u;
  let mlast = P.M - 1u;
{{SETUP}}
{{LOOP}}
  // the sum over tk: a tree over the TK invocations that share tn
{{STORE_RED}}
  workgroupBarrier();
  for (var s = TK / 2u; s > 0u; s = s / 2u) {
    if (tk < s) {
{{REDUCE}}
    }
    workgroupBarrier();
  }
  if (tk == 0u) {
{{EPILOGUE}}
  }
}

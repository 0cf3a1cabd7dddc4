// Split-K epilogue: out[i] = sum over slices s of partial[s * stride + i], then what the GEMM's own epilogue would
// have applied: the bias, the prior output (accumulate) and the ReLU. {{BIAS}}, {{ACCUMULATE}} and {{RELU}} are
// statements or empty. The bias of element i is bias[(i / bias_div) % bias_mod]: per channel for NCHW, per column
// for a matrix. Element i lands at row i / cols, column i % cols of an output whose rows are row_stride apart
// (a window onto part of a wider matrix; row_stride = cols for a contiguous one).

struct Params {
  n: u32, splits: u32, stride: u32, p_base: u32,
  out_base: u32, bias_base: u32, bias_div: u32, bias_mod: u32,
  cols: u32, row_stride: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> partial: array<f32>;
{{BIAS_BINDING}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.n) { return; }
  var v = 0.0;
  for (var s = 0u; s < P.splits; s++) { v += partial[P.p_base + s * P.stride + i]; }
  let at = P.out_base + (i / P.cols) * P.row_stride + i % P.cols;
{{BIAS}}
{{ACCUMULATE}}
{{RELU}}
  out[at] = v;
}

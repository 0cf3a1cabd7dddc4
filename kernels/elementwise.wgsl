// Elementwise operators with numpy broadcasting, generated from the op table in
// src/backend/webgpu/elementwise.ts: {{EXPR}} is the operator, written over a, b, c (inputs), s0, s1 (scalars)
// and gi (the element's flat index in the whole output, for counter-based randomness).
// Each input is read in one of three modes: 0 = same shape as the output (window aligned with the output's),
// 1 = a single value, 2 = broadcast through strides over the output's coordinates.

struct Params {
  n: u32, out_base: u32, start: u32, rank: u32,
  base_a: u32, base_b: u32, base_c: u32, seed: u32,
  mode_a: u32, mode_b: u32, mode_c: u32, _pad: u32,
  s0: f32, s1: f32, _pad1: u32, _pad2: u32,
  shape: array<vec4<u32>, 2>,
  stride_a: array<vec4<u32>, 2>,
  stride_b: array<vec4<u32>, 2>,
  stride_c: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
{{INPUT_BINDINGS}}

fn at4(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

fn strided(gi: u32, strides: array<vec4<u32>, 2>) -> u32 {
  var rem = gi;
  var idx = 0u;
  for (var d = i32(P.rank) - 1; d >= 0; d--) {
    let extent = at4(P.shape, u32(d));
    idx += (rem % extent) * at4(strides, u32(d));
    rem /= extent;
  }
  return idx;
}

fn input_index(mode: u32, li: u32, gi: u32, strides: array<vec4<u32>, 2>) -> u32 {
  if (mode == 0u) { return li; }
  if (mode == 1u) { return 0u; }
  return strided(gi, strides);
}

fn hash(x: u32) -> u32 {
  var h = x * 747796405u + 2891336453u;
  h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;
  return (h >> 22u) ^ h;
}

fn uniform01(seed: u32, gi: u32) -> f32 {
  return f32(hash(hash(gi) ^ (seed * 2654435761u)) >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let li = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (li >= P.n) { return; }
  let gi = P.start + li;
  let s0 = P.s0;
  let s1 = P.s1;
{{INPUT_LOADS}}
  out[P.out_base + li] = {{EXPR}};
}

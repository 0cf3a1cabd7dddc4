// Winograd F(2x2, 3x3) for 3x3 convolutions with stride 1 (Lavin & Gray 2015): each 2x2 block of outputs comes
// from a 4x4 block of inputs with 16 multiplications per (output channel, input channel) instead of 36. The
// three transforms are these entry points; the 16 products summed over the input channels are one batched
// matmul between them (src/backend/webgpu/winograd.ts):
//
//   weights: U[xi, r, c] = (G g Gᵀ)[xi]         g the 3x3 kernel from output channel r to input channel c
//   input:   V[xi, c, t] = (Bᵀ d Bᵀᵀ)[xi]       d the 4x4 input block of tile t in channel c, zero outside
//   (matmul) M[xi, r, t] = sum_c U[xi, r, c] V[xi, c, t]
//   output:  out[r, 2x2 block of tile t] = Aᵀ M[., r, t] A (+ bias[r], ReLU)
//
// with xi = 4 i + j over the 4x4 transform domain and
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 -1 -1].
// Tile t = (n * TH + ty) * TW + tx covers outputs (2 ty, 2 tx) .. (2 ty + 1, 2 tx + 1) of image n; its input
// block starts at (2 ty - pad_top, 2 tx - pad_left). The same kernels compute a backward-input pass: the
// gradient convolved with the kernels flipped and their channels swapped (`flip`), padded by 2 - pad.
// Each entry point has its own uniform block at binding 0.

struct WeightParams {
  rows: u32, cols: u32, flip: u32, w_base: u32,
  u_base: u32, _p0: u32, _p1: u32, _p2: u32,
}

struct InputParams {
  count: u32,        // channels x tiles
  tiles: u32,        // images x TH x TW
  th: u32, tw: u32,
  h: u32, w: u32,
  pad_top: i32, pad_left: i32,
  x_base: u32, v_base: u32,
  mask_base: u32,    // where the fused ReLU's output starts in mask_in (backward-input with a mask)
  _p1: u32,
}

struct OutputParams {
  count: u32,        // output channels x tiles
  tiles: u32,
  th: u32, tw: u32,
  oh: u32, ow: u32,
  rows: u32,         // output channels
  m_base: u32,
  out_base: u32, bias_base: u32, _p0: u32, _p1: u32,
}

fn linear_id(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * 64u + lid;
}

// Every transform is written out on vec4 / vec3 rows: no private array indexed by a loop variable, which
// llvmpipe keeps in memory and gathers lane by lane (the looped first version of the weight transform took 12x
// as long on lavapipe).

// ---------------------------------------------------------------- weights

@group(0) @binding(0) var<uniform> PW: WeightParams;
@group(0) @binding(1) var<storage, read_write> u_out: array<f32>;
@group(0) @binding(2) var<storage, read> w_in: array<f32>;

/** Row a of the 3x3 kernel from output channel r to input channel c (turned by 180 degrees when flipping). */
fn kernel_row(r: u32, c: u32, a: u32) -> vec3<f32> {
  if (PW.flip == 0u) {
    let at = PW.w_base + (r * PW.cols + c) * 9u + 3u * a;
    return vec3<f32>(w_in[at], w_in[at + 1u], w_in[at + 2u]);
  }
  let at = PW.w_base + (c * PW.rows + r) * 9u + 8u - 3u * a;
  return vec3<f32>(w_in[at], w_in[at - 1u], w_in[at - 2u]);
}

/** Row t of G g times Gᵀ, stored as transform-domain row a. */
fn store_u(t: vec3<f32>, a: u32, i: u32, count: u32) {
  let base = PW.u_base + 4u * a * count + i;
  u_out[base] = t.x;
  u_out[base + count] = 0.5 * (t.x + t.y + t.z);
  u_out[base + 2u * count] = 0.5 * (t.x - t.y + t.z);
  u_out[base + 3u * count] = t.z;
}

@compute @workgroup_size(64)
fn weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  let count = PW.rows * PW.cols;
  if (i >= count) { return; }
  let r = i / PW.cols;
  let c = i % PW.cols;
  let g0 = kernel_row(r, c, 0u);
  let g1 = kernel_row(r, c, 1u);
  let g2 = kernel_row(r, c, 2u);
  store_u(g0, 0u, i, count);
  store_u(0.5 * (g0 + g1 + g2), 1u, i, count);
  store_u(0.5 * (g0 - g1 + g2), 2u, i, count);
  store_u(g2, 3u, i, count);
}

// ---------------------------------------------------------------- input

@group(0) @binding(0) var<uniform> PI: InputParams;
@group(0) @binding(1) var<storage, read_write> v_out: array<f32>;
@group(0) @binding(2) var<storage, read> x_in: array<f32>;
{{MASK_BINDING}}

/** Element i of the input: as stored, or through a fused ReLU's backward rule (src/backend/webgpu/conv.ts). */
fn input_at(i: u32) -> f32 {
  return {{INPUT_LOAD}};
}

/** Row y of the input plane at columns x0 .. x0 + 3, zero outside the plane. */
fn input_row(plane: u32, y: i32, x0: i32) -> vec4<f32> {
  if (y < 0 || y >= i32(PI.h)) { return vec4<f32>(0.0); }
  let row = plane + u32(y) * PI.w;
  var v = vec4<f32>(0.0);
  let last = i32(PI.w) - 1;
  if (x0 >= 0 && x0 <= last) { v.x = input_at(row + u32(x0)); }
  if (x0 + 1 >= 0 && x0 + 1 <= last) { v.y = input_at(row + u32(x0 + 1)); }
  if (x0 + 2 >= 0 && x0 + 2 <= last) { v.z = input_at(row + u32(x0 + 2)); }
  if (x0 + 3 >= 0 && x0 + 3 <= last) { v.w = input_at(row + u32(x0 + 3)); }
  return v;
}

/** Row s of Bᵀ d times B, stored as transform-domain row a. */
fn store_v(s: vec4<f32>, a: u32, i: u32) {
  let stride = PI.count;
  let base = PI.v_base + 4u * a * stride + i;
  v_out[base] = s.x - s.z;
  v_out[base + stride] = s.y + s.z;
  v_out[base + 2u * stride] = s.z - s.y;
  v_out[base + 3u * stride] = s.y - s.w;
}

@compute @workgroup_size(64)
fn input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= PI.count) { return; }
  let c = i / PI.tiles;
  let t = i % PI.tiles;
  let per = PI.th * PI.tw;
  let n = t / per;
  let q = t % per;
  let y0 = i32(2u * (q / PI.tw)) - PI.pad_top;
  let x0 = i32(2u * (q % PI.tw)) - PI.pad_left;
  let channels = PI.count / PI.tiles;
  let plane = PI.x_base + (n * channels + c) * PI.h * PI.w;
  let d0 = input_row(plane, y0, x0);
  let d1 = input_row(plane, y0 + 1, x0);
  let d2 = input_row(plane, y0 + 2, x0);
  let d3 = input_row(plane, y0 + 3, x0);
  store_v(d0 - d2, 0u, i);
  store_v(d1 + d2, 1u, i);
  store_v(d2 - d1, 2u, i);
  store_v(d1 - d3, 3u, i);
}

// ---------------------------------------------------------------- output

@group(0) @binding(0) var<uniform> PO: OutputParams;
@group(0) @binding(1) var<storage, read_write> y_out: array<f32>;
@group(0) @binding(2) var<storage, read> m_in: array<f32>;
{{BIAS_BINDING}}

/** Transform-domain row a of this (channel, tile). */
fn m_row(a: u32, i: u32) -> vec4<f32> {
  let base = PO.m_base + 4u * a * PO.count + i;
  return vec4<f32>(m_in[base], m_in[base + PO.count], m_in[base + 2u * PO.count], m_in[base + 3u * PO.count]);
}

@compute @workgroup_size(64)
fn output(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= PO.count) { return; }
  let r = i / PO.tiles;
  let t = i % PO.tiles;
  let per = PO.th * PO.tw;
  let n = t / per;
  let q = t % per;
  let oy = 2u * (q / PO.tw);
  let ox = 2u * (q % PO.tw);
  let m0 = m_row(0u, i); let m1 = m_row(1u, i); let m2 = m_row(2u, i); let m3 = m_row(3u, i);
  // rows of Aᵀ m, then each times A
  let s0 = m0 + m1 + m2;
  let s1 = m1 - m2 - m3;
  let plane = PO.out_base + (n * PO.rows + r) * PO.oh * PO.ow;
  let two = ox + 1u < PO.ow;
  {
    var v0 = s0.x + s0.y + s0.z;
    var v1 = s0.y - s0.z - s0.w;
{{EPILOGUE}}
    y_out[plane + oy * PO.ow + ox] = v0;
    if (two) { y_out[plane + oy * PO.ow + ox + 1u] = v1; }
  }
  if (oy + 1u < PO.oh) {
    var v0 = s1.x + s1.y + s1.z;
    var v1 = s1.y - s1.z - s1.w;
{{EPILOGUE}}
    y_out[plane + (oy + 1u) * PO.ow + ox] = v0;
    if (two) { y_out[plane + (oy + 1u) * PO.ow + ox + 1u] = v1; }
  }
}

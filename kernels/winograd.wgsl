// Winograd F(m x m, 3x3) for 3x3 convolutions with stride 1 (Lavin & Gray 2015), m = 2 or 4: each m x m block of
// outputs comes from an a x a block of inputs (a = m + 2) with a² multiplications per (output channel, input
// channel) instead of 9 m². The three transforms are this file's entry points; the a² products summed over the
// input channels are one batched matmul between them (src/backend/webgpu/winograd.ts):
//
//   weights: U[xi, r, c] = (G g Gᵀ)[xi]         g the 3x3 kernel from output channel r to input channel c
//   input:   V[xi, c, t] = (Bᵀ d B)[xi]         d the a x a input block of tile t in channel c, zero outside
//   (matmul) M[xi, r, t] = sum_c U[xi, r, c] V[xi, c, t]
//   output:  out[r, m x m block of tile t] = Aᵀ M[., r, t] A (+ bias[r], ReLU)
//
// with xi = a i + j over the a x a transform domain. The matrices Bᵀ, G and Aᵀ are winograd.ts's; it writes each
// product out as straight-line arithmetic on named scalars (the entry points' BODY placeholders): no private
// array indexed by a loop variable, which llvmpipe keeps in memory and gathers lane by lane.
// Tile t = (n * TH + ty) * TW + tx covers outputs (m ty, m tx) .. (m ty + m - 1, m tx + m - 1) of image n of the
// dispatch's chunk of images (x_base and out_base are the chunk's); its input
// block starts at (m ty - pad_top, m tx - pad_left). The same kernels compute a backward-input pass: the gradient
// convolved with the kernels turned by 180 degrees and their channels swapped (`flip`), padded by 2 - pad.
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

// ---------------------------------------------------------------- weights

@group(0) @binding(0) var<uniform> PW: WeightParams;
@group(0) @binding(1) var<storage, read_write> u_out: array<f32>;
@group(0) @binding(2) var<storage, read> w_in: array<f32>;

/** Tap (a, b) of the 3x3 kernel from output channel r to input channel c (turned by 180 degrees when flipping). */
fn tap(r: u32, c: u32, a: u32, b: u32) -> f32 {
  if (PW.flip == 0u) {
    return w_in[PW.w_base + (r * PW.cols + c) * 9u + 3u * a + b];
  }
  return w_in[PW.w_base + (c * PW.rows + r) * 9u + 8u - 3u * a - b];
}

@compute @workgroup_size(64)
fn weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  let count = PW.rows * PW.cols;
  if (i >= count) { return; }
  let r = i / PW.cols;
  let c = i % PW.cols;
  let base = PW.u_base + i;
{{WEIGHT_BODY}}
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

/** The input plane's element at (y, x), zero outside the plane. */
fn input_px(plane: u32, y: i32, x: i32) -> f32 {
  if (y < 0 || x < 0 || y >= i32(PI.h) || x >= i32(PI.w)) { return 0.0; }
  return input_at(plane + u32(y) * PI.w + u32(x));
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
  let y0 = i32({{M}}u * (q / PI.tw)) - PI.pad_top;
  let x0 = i32({{M}}u * (q % PI.tw)) - PI.pad_left;
  let channels = PI.count / PI.tiles;
  let plane = PI.x_base + (n * channels + c) * PI.h * PI.w;
  let base = PI.v_base + i;
  let stride = PI.count;
{{INPUT_BODY}}
}

// ---------------------------------------------------------------- output

@group(0) @binding(0) var<uniform> PO: OutputParams;
@group(0) @binding(1) var<storage, read_write> y_out: array<f32>;
@group(0) @binding(2) var<storage, read> m_in: array<f32>;
{{BIAS_BINDING}}

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
  let oy = {{M}}u * (q / PO.tw);
  let ox = {{M}}u * (q % PO.tw);
  let base = PO.m_base + i;
  let stride = PO.count;
  let plane = PO.out_base + (n * PO.rows + r) * PO.oh * PO.ow;
{{OUTPUT_BODY}}
}

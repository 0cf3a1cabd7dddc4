// The operands of the subgroup convolution (kernels/subgroup_gemm.wgsl, src/backend/webgpu/subgroupconv.ts), a
// stride-1 undilated convolution of an input x [images, C, H, W] with a KH x KW kernel, padding (top, left), into
// an output of OH x OW. Each entry point has its own uniform block at binding 0.
//
//   pad:      xs[image, kx, c, yy, xx] = x[image, c, yy - top, xx + kx - left]  (0 outside x, and for c >= C)
//             yy < HP = OH + KH - 1, xx < WP = OW rounded up to 4, c < CP = C rounded up to 4
//   weights:  wr[m, ky, kx, c] = w[m, c, ky, kx]                                 (0 for c >= C)
//             or, turned (backward-input: m is the layer's input channel, c its output channel),
//             wr[m, ky, kx, c] = w[c, m, KH - 1 - ky, KW - 1 - kx]
//
// With both, output pixel (y, x) of channel m is the sum over (ky, kx, c) of wr[m, ky, kx, c] times
// xs[image, kx, c, y + ky, x]: each kernel column kx has its own copy of the input, shifted by kx, so four
// neighbouring output pixels read four neighbouring, 16-byte aligned elements of it for every tap. The shifted
// copies cost KW times the input's memory and one pass over it; the pad pass of a backward-input can apply a
// fused ReLU's rule to the gradient as it reads it ({{LOAD}}).

struct PadParams {
  count: u32,        // vec4s written: images x KW x CP x HP x WP / 4
  c: u32, h: u32, w: u32,
  cp: u32, hp: u32, wp4: u32, kw: u32,
  top: i32, left: i32,
  x_base: u32, mask_base: u32,
}

struct WeightParams {
  count: u32,        // elements written: M x KH x KW x CP
  m: u32, c: u32, cp: u32,
  kh: u32, kw: u32, turned: u32, w_base: u32,
}

fn linear_id(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * 64u + lid;
}

// ---------------------------------------------------------------- pad

@group(0) @binding(0) var<uniform> PP: PadParams;
@group(0) @binding(1) var<storage, read_write> xs: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x_in: array<f32>;
{{MASK_BINDING}}

fn padded(plane: u32, iy: i32, ix: i32) -> f32 {
  if (iy < 0 || ix < 0 || iy >= i32(PP.h) || ix >= i32(PP.w)) { return 0.0; }
  let i = plane + u32(iy) * PP.w + u32(ix);
  return {{LOAD}};
}

@compute @workgroup_size(64)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_id(wid, lid, nwg);
  if (id >= PP.count) { return; }
  let xq = id % PP.wp4;
  var r = id / PP.wp4;
  let yy = r % PP.hp; r = r / PP.hp;
  let c = r % PP.cp; r = r / PP.cp;
  let kx = r % PP.kw;
  let image = r / PP.kw;
  if (c >= PP.c) {
    xs[id] = vec4<f32>(0.0);
    return;
  }
  let plane = PP.x_base + (image * PP.c + c) * PP.h * PP.w;
  let iy = i32(yy) - PP.top;
  let ix = i32(4u * xq + kx) - PP.left;
  xs[id] = vec4<f32>(padded(plane, iy, ix), padded(plane, iy, ix + 1), padded(plane, iy, ix + 2), padded(plane, iy, ix + 3));
}

// ---------------------------------------------------------------- weights

@group(0) @binding(0) var<uniform> PW: WeightParams;
@group(0) @binding(1) var<storage, read_write> wr: array<f32>;
@group(0) @binding(2) var<storage, read> w_in: array<f32>;

@compute @workgroup_size(64)
fn weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_id(wid, lid, nwg);
  if (id >= PW.count) { return; }
  let c = id % PW.cp;
  var r = id / PW.cp;
  let kx = r % PW.kw; r = r / PW.kw;
  let ky = r % PW.kh;
  let m = r / PW.kh;
  if (c >= PW.c) {
    wr[id] = 0.0;
    return;
  }
  let taps = PW.kh * PW.kw;
  if (PW.turned != 0u) {
    wr[id] = w_in[PW.w_base + (c * PW.m + m) * taps + (PW.kh - 1u - ky) * PW.kw + (PW.kw - 1u - kx)];
  } else {
    wr[id] = w_in[PW.w_base + (m * PW.c + c) * taps + ky * PW.kw + kx];
  }
}

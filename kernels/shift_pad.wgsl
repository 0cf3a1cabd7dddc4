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
// fused ReLU's rule to the gradient as it reads it (the generated LOAD expression).

struct PadParams {
  count: u32,        // invocations: images x CP x HP x WP / 4, each writing its vec4 of all KW copies
  c: u32, h: u32, w: u32,
  cp: u32, hp: u32, wp4: u32, copy4: u32,   // copy4: vec4s per shifted copy of an image (CP x HP x WP / 4)
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

// x at (iy, ix) of a plane, or 0 outside it: the index is clamped into the plane and the value selected, so
// that no lane branches (on llvmpipe a load under a condition costs a test per lane).
fn padded(plane: u32, row_ok: bool, iy: i32, ix: i32) -> f32 {
  let ok = row_ok & (ix >= 0) & (ix < i32(PP.w));
  let i = plane + u32(clamp(iy, 0, i32(PP.h) - 1)) * PP.w + u32(clamp(ix, 0, i32(PP.w) - 1));
  return select(0.0, {{LOAD}}, ok);
}

// One invocation per (image, channel, row, four columns): it reads the KW + 3 values its KW shifted vec4s share.
@compute @workgroup_size(64)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_id(wid, lid, nwg);
  if (id >= PP.count) { return; }
  let xq = id % PP.wp4;
  let r = id / PP.wp4;
  let yy = r % PP.hp;
  let plane_id = r / PP.hp;              // image x CP + c
  let c = plane_id % PP.cp;
  let image = plane_id / PP.cp;
  // copy kx of this vec4: image's KW copies, then kx, then (c, yy, xq) = id's place inside a copy
  let at = image * {{KW}}u * PP.copy4 + (id - image * PP.copy4);
  let live = c < PP.c;
  let plane = PP.x_base + (image * PP.c + min(c, PP.c - 1u)) * PP.h * PP.w;
  let iy = i32(yy) - PP.top;
  let row_ok = live & (iy >= 0) & (iy < i32(PP.h));
  let ix = i32(4u * xq) - PP.left;
{{BODY}}
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

// A stride-1 convolution as a GEMM for adapters whose subgroups have 8 invocations: CPU adapters (lavapipe runs
// each subgroup as one 8-wide SIMD vector). Its operands come from kernels/shift_pad.wgsl: wr [M, KH, KW, CP] the
// weights with the input channels last, xs [images, KW, CP, HP, WP] the input shifted once per kernel column.
//
// One workgroup is one subgroup of 8 invocations and computes a TM x TN tile of out[image] (rows: output
// channels, columns: pixels y * WP + x; the tile's sizes are generated, subgroupconv.ts). Each invocation owns
// groups of four columns, four pixels of one row, for all the tile's rows (or, in the tiles for images of at most
// 16 columns, lanes 0-3 for the first half of the rows and lanes 4-7 for the second). For each tap (ky, kx) and
// each group of four channels c:
//   - invocation `lane` loads one vec4 of weights for each of the rows m0 + 8 i + lane: the four channels'
//     weights, and hands them to the others with subgroupBroadcast;
//   - every invocation loads, for each of the four channels, the vec4 of its four pixels: xs[kx, c, y + ky, x..x+3];
//   - it adds rows x columns x 4 products into vec4 accumulators.
// On llvmpipe each storage load becomes a loop over the 8 lanes; here each of those loads brings four values
// that the lane uses itself, and a subgroupBroadcast (a register shuffle) replaces the other lanes' copies of a
// weight. There is no workgroup memory and no barrier (both are per-lane work on llvmpipe).
//
// Rows past M read row M - 1 and columns past the image read its last four; neither is stored, and neither are
// the padding columns x >= OW.

enable subgroups;

struct Params {
  M: u32,            // GEMM rows: output channels
  row4: u32,         // vec4s per weight row: KH x KW x CP / 4
  cq: u32,           // CP / 4
  kh: u32, kw: u32,
  plane4: u32,       // vec4s per channel plane of xs: HP x WP / 4
  wp4: u32,          // WP / 4
  cols: u32,         // GEMM columns per image: OH x WP
  wp: u32, ow: u32, ohw: u32,
  image4: u32,       // vec4s per image of xs
  out_base: u32, out_image: u32, bias_base: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> wr: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> xs: array<vec4<f32>>;
{{BIAS_BINDING}}

// The epilogue of four pixels of one row: bias b (when bound) and the ReLU, on the vec4 at once.
fn finish(v: vec4<f32>, b: f32) -> vec4<f32> {
  var r = v;
{{EPILOGUE}}
  return r;
}

/**
 * Stores four pixels at `at`, of which those at x + e >= OW (padding columns) are not in the image: their stores
 * are turned onto pixel 0 with pixel 0's value, so that no lane branches (llvmpipe tests each lane of a store
 * under a condition; with selects the epilogue also compiles several times faster).
 */
fn store4(at: u32, v: vec4<f32>, e1: bool, e2: bool, e3: bool) {
  out[at] = v.x;
  out[select(at, at + 1u, e1)] = select(v.x, v.y, e1);
  out[select(at, at + 2u, e2)] = select(v.x, v.z, e2);
  out[select(at, at + 3u, e3)] = select(v.x, v.w, e3);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let image = wid.z;
  let m0 = wid.y * {{TM}}u;
  let c0 = wid.x * {{TN}}u;
{{SETUP}}
  var t = 0u;
  for (var ky = 0u; ky < P.kh; ky++) {
    for (var kx = 0u; kx < P.kw; kx++) {
      var xb = image * P.image4 + kx * P.cq * 4u * P.plane4 + ky * P.wp4;
      for (var q = 0u; q < P.cq; q++) {
{{STEP}}
        t += 1u;
        xb += 4u * P.plane4;
      }
    }
  }
{{STORE}}
}

// conv2d backward-input for layers with at most 4 input channels per group (a network's first layer, whose
// input gradient is the saliency map). As a GEMM this has M = channels per group rows, so any register tile
// would compute mostly padding; here each invocation owns {{PX}} input pixels and keeps all of a pixel's
// channels in one vec4, gathering
//   dX[n, g CG + ci, h, w] = sum_{co, kh, kw} W[g OG + co, ci, kh, kw] * dY[n, g OG + co, oh, ow],
//   oh = (h + pad_top - kh dil_h) / stride_h,  ow = (w + pad_left - kw dil_w) / stride_w,
// over the taps whose division is exact and lands inside dY. Each pixel is written by its own invocation:
// no atomics, so results are deterministic. Shapes arrive as uniforms (one pipeline per pixel count).

struct Params {
  planes: u32,           // images * groups in this dispatch: a plane is one (image, group)
  groups: u32, H: u32, W: u32,
  OH: u32, OW: u32, KH: u32, KW: u32,
  CG: u32, OG: u32,
  SH: i32, SW: i32, PT: i32, PL: i32, DH: i32, DW: i32,
  dx_base: u32, w_base: u32, gy_base: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;

const PX = {{PX}}u;

struct Pixel { valid: bool, img: u32, grp: u32, h: i32, w: i32 }

// an invocation's pixels are consecutive in one plane, so they share the group and its weights
fn pixel(plane: u32, q: u32) -> Pixel {
  return Pixel(plane < P.planes && q < P.H * P.W, plane / P.groups, plane % P.groups, i32(q / P.W), i32(q % P.W));
}

// dY's flat index for a pixel and tap, or -1 when the tap does not reach dY (a stride that does not divide,
// or outside the output)
fn tap_index(px: Pixel, kh: u32, kw: u32) -> i32 {
  let sh = px.h + P.PT - i32(kh) * P.DH;
  let sw = px.w + P.PL - i32(kw) * P.DW;
  if (!px.valid || sh < 0 || sw < 0 || sh % P.SH != 0 || sw % P.SW != 0) { return -1; }
  let oh = sh / P.SH; let ow = sw / P.SW;
  if (oh >= i32(P.OH) || ow >= i32(P.OW)) { return -1; }
  let O = P.groups * P.OG;
  return i32(P.gy_base + ((px.img * O + px.grp * P.OG) * P.OH + u32(oh)) * P.OW + u32(ow));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.y * nwg.x + wid.x) * 64u + lid;
  let chunks = (P.H * P.W + PX - 1u) / PX;
  let plane = t / chunks;
  let q0 = (t % chunks) * PX;
  let grp = plane % P.groups;
  var px: array<Pixel, PX>;
  var acc: array<vec4<f32>, PX>;
  for (var p = 0u; p < PX; p++) {
    px[p] = pixel(plane, q0 + p);
    acc[p] = vec4<f32>(0.0);
  }
  let ohw = P.OH * P.OW;
  let khw = P.KH * P.KW;
  let ci_valid = vec4<bool>(P.CG > 0u, P.CG > 1u, P.CG > 2u, P.CG > 3u);
  let ci_off = min(vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(P.CG - 1u)) * khw;
  for (var kh = 0u; kh < P.KH; kh++) {
    for (var kw = 0u; kw < P.KW; kw++) {
      // every pixel's dY offset for this tap; a tap that misses reads element gy_base and is masked out
      var at: array<u32, PX>;
      var hit: array<f32, PX>;
      for (var p = 0u; p < PX; p++) {
        let t = tap_index(px[p], kh, kw);
        at[p] = select(P.gy_base, u32(t), t >= 0);
        hit[p] = select(0.0, 1.0, t >= 0);
      }
      let r = kh * P.KW + kw;
      for (var co = 0u; co < P.OG; co++) {
        let wb = P.w_base + ((grp * P.OG + co) * P.CG) * khw + r;
        let wv = select(vec4<f32>(0.0), vec4<f32>(wt[wb + ci_off.x], wt[wb + ci_off.y], wt[wb + ci_off.z], wt[wb + ci_off.w]), ci_valid);
        for (var p = 0u; p < PX; p++) {
          // select, not multiply: a masked tap must not turn an Inf elsewhere in dY into a NaN here
          let g = select(0.0, gy[at[p] + co * ohw], hit[p] != 0.0);
          acc[p] = fma(vec4<f32>(g), wv, acc[p]);
        }
      }
    }
  }
  for (var p = 0u; p < PX; p++) {
    if (px[p].valid) {
      let c0 = px[p].grp * P.CG;
      let C = P.groups * P.CG;
      let base = P.dx_base + ((px[p].img * C + c0) * P.H + u32(px[p].h)) * P.W + u32(px[p].w);
      let hw = P.H * P.W;
      for (var ci = 0u; ci < P.CG; ci++) { dx[base + ci * hw] = acc[p][ci]; }
    }
  }
}

// conv2d backward-input for stride-1, undilated layers with at most 4 input channels per group (a network's first
// layer, whose input gradient is the saliency map), on GPUs. The plain narrow kernel (conv_dx_narrow.wgsl) has every
// invocation load all of its pixel's dY taps and weights from memory; here a workgroup owns a 16x16 tile of one
// plane (image, group) of dX, and per chunk of CO output channels stages the dY window the tile reads (16 + KH - 1
// by 16 + KW - 1 per channel, zero outside dY) and the chunk's weights (a vec4 over the input channels per tap) in
// workgroup memory, so dY is read from memory about once and the taps come from workgroup memory:
//   dX[n, g CG + ci, h, w] = sum_{co, kh, kw} W[g OG + co, ci, kh, kw] * dY[n, g OG + co, h + PT - kh, w + PL - kw].
// With a fused ReLU's rule, dY goes through it as the window is staged ({{VALUE}} reads gy[i] and the mask y at
// the same index), so no masked copy of dY is made. KH, KW and CO are baked in (a pipeline per kernel size and rule).

struct Params {
  planes: u32,           // images * groups in this dispatch: a plane is one (image, group)
  groups: u32, H: u32, W: u32,
  OH: u32, OW: u32, CG: u32, OG: u32,
  PT: i32, PL: i32, tiles_w: u32, tiles: u32,   // tiles: tiles_h * tiles_w per plane
  dx_base: u32, w_base: u32, gy_base: u32, y_base: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
{{MASK_BINDING}}

const T = 16u;
const KH = {{KH}}u;
const KW = {{KW}}u;
const CO = {{CO}}u;
const RH = T + KH - 1u;
const RW = T + KW - 1u;
const WIN = RH * RW;

var<workgroup> win: array<f32, CO * WIN>;
var<workgroup> ws: array<vec4<f32>, CO * KH * KW>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // uniform per workgroup: which plane and tile (a workgroup past the last plane stages nothing and stores nothing)
  let t = wid.y * nwg.x + wid.x;
  let plane = t / P.tiles;
  let live = plane < P.planes;
  let img = plane / P.groups;
  let grp = plane % P.groups;
  let h0 = ((t % P.tiles) / P.tiles_w) * T;
  let w0 = ((t % P.tiles) % P.tiles_w) * T;
  // the window's first dY row and column (may be negative or past the end: zeros there)
  let r0 = i32(h0) + P.PT - i32(KH - 1u);
  let c0 = i32(w0) + P.PL - i32(KW - 1u);
  let O = P.groups * P.OG;
  let khw = KH * KW;
  var acc = vec4<f32>(0.0);
  for (var cb = 0u; cb < P.OG; cb += CO) {
    workgroupBarrier();
    for (var e = lid; e < CO * WIN; e += 256u) {
      let co = cb + e / WIN;
      let rr = r0 + i32((e % WIN) / RW);
      let cc = c0 + i32((e % WIN) % RW);
      var v = 0.0;
      if (live && co < P.OG && rr >= 0 && cc >= 0 && rr < i32(P.OH) && cc < i32(P.OW)) {
        let i = P.gy_base + ((img * O + grp * P.OG + co) * P.OH + u32(rr)) * P.OW + u32(cc);
        v = {{VALUE}};
      }
      win[e] = v;
    }
    for (var e = lid; e < CO * khw; e += 256u) {
      let co = cb + e / khw;
      let r = e % khw;
      var v = vec4<f32>(0.0);
      if (co < P.OG) {
        let b = P.w_base + ((grp * P.OG + co) * P.CG) * khw + r;
        let last = (P.CG - 1u) * khw;
        v = select(vec4<f32>(0.0), vec4<f32>(wt[b], wt[b + min(khw, last)], wt[b + min(2u * khw, last)], wt[b + min(3u * khw, last)]),
                   vec4<bool>(true, P.CG > 1u, P.CG > 2u, P.CG > 3u));
      }
      ws[e] = v;
    }
    workgroupBarrier();
    for (var co = 0u; co < CO; co++) {
      for (var kh = 0u; kh < KH; kh++) {
        let row = co * WIN + (lid3.y + KH - 1u - kh) * RW + lid3.x + KW - 1u;
        let wrow = (co * KH + kh) * KW;
        for (var kw = 0u; kw < KW; kw++) {
          acc = fma(vec4<f32>(win[row - kw]), ws[wrow + kw], acc);
        }
      }
    }
  }
  let h = h0 + lid3.y;
  let w = w0 + lid3.x;
  if (live && h < P.H && w < P.W) {
    let hw = P.H * P.W;
    let base = P.dx_base + ((img * P.groups * P.CG + grp * P.CG) * P.H + h) * P.W + w;
    for (var ci = 0u; ci < P.CG; ci++) { dx[base + ci * hw] = acc[ci]; }
  }
}

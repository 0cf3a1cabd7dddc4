// Across-channel local response normalisation (Krizhevsky et al. 2012) over x viewed as [N, C, S], S the
// spatial size, one thread per element:
//   d_c = k + alpha / size * sum_{j in W(c)} x_j^2,   W(c) = [c - lo, c + hi] clipped to [0, C)
//   y_c = x_c * d_c^(-beta)
// backward, from dy_c/dx_j = [c = j] d_c^(-beta) - 2 beta alpha / size * x_c d_c^(-beta - 1) x_j [j in W(c)]:
//   dx_j = g_j d_j^(-beta) - 2 beta alpha / size * x_j * sum_{c : j in W(c)} g_c y_c / d_c
// and j in W(c) exactly when c lies in [j - hi, j + lo], the window mirrored. The backward recomputes d from x
// (size reads per d) rather than storing it: LRN is memory-bound and the window is short.

struct Params {
  count: u32,            // elements in this dispatch (whole samples)
  channels: u32, spatial: u32, lo: u32,
  hi: u32, alpha_over_size: f32, beta: f32, k: f32,
  out_base: u32, x_base: u32, y_base: u32, g_base: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;

struct Site { channel: u32, first: u32 }   // an element's channel, and the offset of channel 0 at its position

fn site_of(i: u32) -> Site {
  let plane = P.channels * P.spatial;
  return Site((i % plane) / P.spatial, (i / plane) * plane + i % P.spatial);
}

/** d_c at the position whose channel 0 sits at `first` (an offset from the dispatch's start). */
fn denominator(first: u32, c: u32) -> f32 {
  let c0 = select(0u, c - P.lo, c >= P.lo);
  let c1 = min(c + P.hi, P.channels - 1u);
  var sum = 0.0;
  for (var j = c0; j <= c1; j++) {
    let v = x[P.x_base + first + j * P.spatial];
    sum += v * v;
  }
  return P.k + P.alpha_over_size * sum;
}

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= P.count) { return; }
  let s = site_of(i);
  out[P.out_base + i] = x[P.x_base + i] * pow(denominator(s.first, s.channel), -P.beta);
}

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= P.count) { return; }
  let s = site_of(i);
  let j = s.channel;
  // channels c whose window holds j
  let c0 = select(0u, j - P.hi, j >= P.hi);
  let c1 = min(j + P.lo, P.channels - 1u);
  var cross = 0.0;
  for (var c = c0; c <= c1; c++) {
    let at = s.first + c * P.spatial;
    cross += g[P.g_base + at] * y[P.y_base + at] / denominator(s.first, c);
  }
  let own = g[P.g_base + i] * pow(denominator(s.first, j), -P.beta);
  out[P.out_base + i] = own - 2.0 * P.beta * P.alpha_over_size * x[P.x_base + i] * cross;
}

// Softmax and log-softmax over the middle axis of [outer, n, inner], one workgroup of 64 threads per row.
// Stable: the row maximum is subtracted before exponentiation.
// backward: softmax     dx = y * (g - sum(g * y))
//           log-softmax dx = g - exp(y) * sum(g)

struct Params { outer: u32, n: u32, inner: u32, y_base: u32, out_base: u32, g_base: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;      // x (forward) or y (backward)
@group(0) @binding(3) var<storage, read> g: array<f32>;

var<workgroup> partial: array<f32, 64>;

fn row_max(first: u32, lid: u32) -> f32 {
  var m = -3.402823e38;
  for (var k = lid; k < P.n; k += 64u) { m = max(m, src[first + k * P.inner]); }
  partial[lid] = m;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = max(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}

fn all_sum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}

fn row_first(wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let o = wid.y * nwg.x + wid.x;
  return vec2<u32>(o, (o / P.inner) * P.n * P.inner + o % P.inner);
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let rf = row_first(wid, nwg);
  if (rf.x >= P.outer * P.inner) { return; }   // uniform: the whole workgroup leaves together
  let first = P.y_base + rf.y;
  let m = row_max(first, lid);
  var s = 0.0;
  for (var k = lid; k < P.n; k += 64u) { s += exp(src[first + k * P.inner] - m); }
  let total = all_sum(s, lid);
  let log_total = log(total);
  for (var k = lid; k < P.n; k += 64u) {
    let z = src[first + k * P.inner] - m;
    out[P.out_base + rf.y + k * P.inner] = select(exp(z) / total, z - log_total, {{LOG}});
  }
}

@compute @workgroup_size(64)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let rf = row_first(wid, nwg);
  if (rf.x >= P.outer * P.inner) { return; }
  let first = P.y_base + rf.y;
  let gfirst = P.g_base + rf.y;
  var s = 0.0;
  for (var k = lid; k < P.n; k += 64u) {
    let gv = g[gfirst + k * P.inner];
    s += select(gv * src[first + k * P.inner], gv, {{LOG}});
  }
  let total = all_sum(s, lid);
  for (var k = lid; k < P.n; k += 64u) {
    let y = src[first + k * P.inner];
    let gv = g[gfirst + k * P.inner];
    out[P.out_base + rf.y + k * P.inner] = select(y * (gv - total), gv - exp(y) * total, {{LOG}});
  }
}

// Reduction over the middle axis of x viewed as [outer, r, inner]: one workgroup per output element,
// its 64 threads stride over r and combine their partial results in workgroup memory.

struct Params { outer: u32, r: u32, inner: u32, x_base: u32, out_base: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.y * nwg.x + wid.x;          // uniform across the workgroup
  let valid = o < P.outer * P.inner;
  let row = o / P.inner;
  let col = o % P.inner;
  var acc = {{INIT}};
  if (valid) {
    let first = P.x_base + row * P.r * P.inner + col;
    for (var k = lid; k < P.r; k += 64u) {
      let v = x[first + k * P.inner];
      acc = {{COMBINE}};
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let v = partial[lid + s];
      let a = partial[lid];
      partial[lid] = {{COMBINE_PARTIAL}};
    }
    workgroupBarrier();
  }
  if (lid == 0u && valid) { out[P.out_base + o] = partial[0]; }
}

// Short rows (r <= 64, such as the max over colour channels of a saliency map): one invocation per output
// element, walking its row alone, where a workgroup per element would leave most of its 64 threads idle.
@compute @workgroup_size(256)
fn lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (o >= P.outer * P.inner) { return; }
  let row = o / P.inner;
  let col = o % P.inner;
  let first = P.x_base + row * P.r * P.inner + col;
  var acc = {{INIT}};
  for (var k = 0u; k < P.r; k++) {
    let v = x[first + k * P.inner];
    acc = {{COMBINE}};
  }
  out[P.out_base + o] = acc;
}

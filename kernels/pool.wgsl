// 2-D pooling over NCHW planes, forward and backward, one invocation per element written.
// Shapes and the window geometry arrive as uniforms (pooling is memory-bound: nothing to gain from baking
// them), so one pipeline per entry point serves every layer. Windows are derived from the output size and
// the parameters: output (oh, ow) covers input rows [oh * stride_h - pad_top, ... + kernel_h), clipped to
// the input; padding never wins a max and only counts in an average's divisor.
//
// Entry points and their bindings (1 = what is written, then what is read):
//   max_pool_forward           1 y,  2 x
//   max_pool_forward_switches  1 y,  2 x, 3 switches (written)
//   max_unpool                 1 dx, 2 g, 3 switches   dx[s] = Σ g[p] over outputs p whose switch is s
//   max_unpool_disjoint        the same where windows tile the input (kernel = stride, no padding): one
//                              invocation per window writes its pixels
//   gather_switches            1 out, 2 x, 3 switches  out[p] = x[switch[p]], the adjoint of max_unpool
//   avg_pool_forward           1 y,  2 x
//   avg_pool_backward          1 dx, 2 g
// The backward kernels gather (each input pixel scans the outputs whose windows cover it) instead of
// scattering with atomics: overlapping windows then sum in a fixed order, so results are deterministic.
// Switches are flat indices h * W + w inside a plane, stored as f32 (exact below 2^24 pixels per plane).

struct Params {
  threads: u32,          // invocations with work in this dispatch
  in_h: u32, in_w: u32,
  out_h: u32, out_w: u32,
  kernel_h: u32, kernel_w: u32,
  stride_h: u32, stride_w: u32,
  pad_top: u32, pad_left: u32, pad_bottom: u32, pad_right: u32,
  count_include_pad: u32,
  dst_base: u32, src_base: u32, switches_base: u32,
  _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
// Two views of binding 3, never used by the same entry point: written by max_pool_forward_switches, read
// by the backward kernels (a read-only binding may then alias its input without a validation error).
@group(0) @binding(3) var<storage, read_write> switches_out: array<f32>;
@group(0) @binding(3) var<storage, read> switches: array<f32>;

fn invocation(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

// A bit test rather than `v != v`: compilers are allowed to assume floats are never NaN.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// The rows (or columns) of the input an output's window covers, clipped to the input: [first, end).
// Unclipped, the window is [o * stride - pad, o * stride - pad + kernel).
fn window_span(o: u32, stride: u32, pad: u32, kernel: u32, extent: u32) -> vec2<i32> {
  let start = i32(o * stride) - i32(pad);
  return vec2<i32>(max(start, 0), min(start + i32(kernel), i32(extent)));
}

// The outputs along one axis whose windows cover input position i: [first, last], possibly empty.
fn covering_outputs(i: u32, stride: u32, pad: u32, kernel: u32, out_extent: u32) -> vec2<i32> {
  // o * stride - pad <= i  and  i < o * stride - pad + kernel
  let upper = i32(i + pad);
  let lower = upper - i32(kernel) + 1;
  var first = 0;
  if (lower > 0) { first = (lower + i32(stride) - 1) / i32(stride); }
  let last = min(upper / i32(stride), i32(out_extent) - 1);
  return vec2<i32>(first, last);
}

struct Argmax { value: f32, index: u32 }

// The window's maximum and its first position in row-major order. NaN counts as larger than any number
// and the first NaN is kept (so the output is NaN, as in PyTorch).
fn window_argmax(plane: u32, oh: u32, ow: u32) -> Argmax {
  let rows = window_span(oh, P.stride_h, P.pad_top, P.kernel_h, P.in_h);
  let cols = window_span(ow, P.stride_w, P.pad_left, P.kernel_w, P.in_w);
  let plane_start = P.src_base + plane * P.in_h * P.in_w;
  var best = Argmax(src[plane_start + u32(rows.x) * P.in_w + u32(cols.x)], u32(rows.x) * P.in_w + u32(cols.x));
  for (var h = rows.x; h < rows.y; h++) {
    for (var w = cols.x; w < cols.y; w++) {
      let index = u32(h) * P.in_w + u32(w);
      let v = src[plane_start + index];
      if (!is_nan(best.value) && (is_nan(v) || v > best.value)) {
        best = Argmax(v, index);
      }
    }
  }
  return best;
}

// One output of max pooling: writes the value, returns the argmax for the entry point that keeps switches.
fn max_pool_output(i: u32) -> Argmax {
  let per_plane = P.out_h * P.out_w;
  let r = i % per_plane;
  let best = window_argmax(i / per_plane, r / P.out_w, r % P.out_w);
  dst[P.dst_base + i] = best.value;
  return best;
}

@compute @workgroup_size(256)
fn max_pool_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= P.threads) { return; }
  _ = max_pool_output(i);
}

@compute @workgroup_size(256)
fn max_pool_forward_switches(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= P.threads) { return; }
  switches_out[P.switches_base + i] = f32(max_pool_output(i).index);
}

@compute @workgroup_size(256)
fn max_unpool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= P.threads) { return; }
  let per_plane = P.in_h * P.in_w;
  let plane = i / per_plane;
  let pixel = i % per_plane;
  let ih = pixel / P.in_w;
  let iw = pixel % P.in_w;
  let rows = covering_outputs(ih, P.stride_h, P.pad_top, P.kernel_h, P.out_h);
  let cols = covering_outputs(iw, P.stride_w, P.pad_left, P.kernel_w, P.out_w);
  let out_start = plane * P.out_h * P.out_w;
  let wanted = f32(pixel);
  var acc = 0.0;
  for (var oh = rows.x; oh <= rows.y; oh++) {
    for (var ow = cols.x; ow <= cols.y; ow++) {
      let p = out_start + u32(oh) * P.out_w + u32(ow);
      let s = switches[P.switches_base + p];
      if (!is_nan(s) && s == wanted) { acc += src[P.src_base + p]; }
    }
  }
  dst[P.dst_base + i] = acc;
}

// max_unpool where the windows tile the input without overlap (kernel = stride, no padding; VGG's 2x2 / 2): one
// invocation per cell of the ceil(in / kernel) grid writes the cell's pixels, g where the switch names the pixel
// and 0 elsewhere (a NaN switch names none: tested as bits, since drivers may assume floats are never NaN); cells
// past the pooled output (the rows and columns floor mode leaves out) write zeros. Two
// loads per window instead of two per pixel and covering output (6x faster on lavapipe for VGG16's layers).
@compute @workgroup_size(256)
fn max_unpool_disjoint(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= P.threads) { return; }
  let cells_h = (P.in_h + P.kernel_h - 1u) / P.kernel_h;
  let cells_w = (P.in_w + P.kernel_w - 1u) / P.kernel_w;
  let per_plane = cells_h * cells_w;
  let plane = i / per_plane;
  let cell = i % per_plane;
  let ch = cell / cells_w;
  let cw = cell % cells_w;
  var value = 0.0;
  var wanted = -1.0;
  if (ch < P.out_h && cw < P.out_w) {
    let p = plane * P.out_h * P.out_w + ch * P.out_w + cw;
    value = src[P.src_base + p];
    wanted = switches[P.switches_base + p];
  }
  let h0 = ch * P.kernel_h;
  let w0 = cw * P.kernel_w;
  let h1 = min(h0 + P.kernel_h, P.in_h);
  let w1 = min(w0 + P.kernel_w, P.in_w);
  let start = P.dst_base + plane * P.in_h * P.in_w;
  for (var h = h0; h < h1; h++) {
    for (var w = w0; w < w1; w++) {
      let pixel = h * P.in_w + w;
      dst[start + pixel] = select(0.0, value, !is_nan(wanted) && f32(pixel) == wanted);
    }
  }
}

@compute @workgroup_size(256)
fn gather_switches(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= P.threads) { return; }
  let per_plane = P.in_h * P.in_w;
  let s = switches[P.switches_base + i];
  // a switch that names no pixel of the plane (out of range, fractional, NaN) gathers nothing
  var value = 0.0;
  if (!is_nan(s) && s >= 0.0 && s < f32(per_plane) && s == floor(s)) {
    value = src[P.src_base + (i / (P.out_h * P.out_w)) * per_plane + u32(s)];
  }
  dst[P.dst_base + i] = value;
}

// PyTorch's divisor: the window clipped to input + padding (ceil mode can run past it), or, without
// count_include_pad, clipped to the input alone.
fn avg_divisor(oh: u32, ow: u32) -> f32 {
  let h0 = i32(oh * P.stride_h) - i32(P.pad_top);
  let w0 = i32(ow * P.stride_w) - i32(P.pad_left);
  if (P.count_include_pad != 0u) {
    let h1 = min(h0 + i32(P.kernel_h), i32(P.in_h + P.pad_bottom));
    let w1 = min(w0 + i32(P.kernel_w), i32(P.in_w + P.pad_right));
    return f32((h1 - h0) * (w1 - w0));
  }
  let rows = window_span(oh, P.stride_h, P.pad_top, P.kernel_h, P.in_h);
  let cols = window_span(ow, P.stride_w, P.pad_left, P.kernel_w, P.in_w);
  return f32((rows.y - rows.x) * (cols.y - cols.x));
}

@compute @workgroup_size(256)
fn avg_pool_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= P.threads) { return; }
  let per_plane = P.out_h * P.out_w;
  let r = i % per_plane;
  let oh = r / P.out_w;
  let ow = r % P.out_w;
  let rows = window_span(oh, P.stride_h, P.pad_top, P.kernel_h, P.in_h);
  let cols = window_span(ow, P.stride_w, P.pad_left, P.kernel_w, P.in_w);
  let plane_start = P.src_base + (i / per_plane) * P.in_h * P.in_w;
  var acc = 0.0;
  for (var h = rows.x; h < rows.y; h++) {
    for (var w = cols.x; w < cols.y; w++) {
      acc += src[plane_start + u32(h) * P.in_w + u32(w)];
    }
  }
  dst[P.dst_base + i] = acc / avg_divisor(oh, ow);
}

@compute @workgroup_size(256)
fn avg_pool_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let i = invocation(wid, nwg, lid);
  if (i >= P.threads) { return; }
  let per_plane = P.in_h * P.in_w;
  let r = i % per_plane;
  // every input pixel lies inside input + padding, so the clip of a ceil-mode window never excludes it
  let rows = covering_outputs(r / P.in_w, P.stride_h, P.pad_top, P.kernel_h, P.out_h);
  let cols = covering_outputs(r % P.in_w, P.stride_w, P.pad_left, P.kernel_w, P.out_w);
  let out_start = P.src_base + (i / per_plane) * P.out_h * P.out_w;
  var acc = 0.0;
  for (var oh = rows.x; oh <= rows.y; oh++) {
    for (var ow = cols.x; ow <= cols.y; ow++) {
      acc += src[out_start + u32(oh) * P.out_w + u32(ow)] / avg_divisor(u32(oh), u32(ow));
    }
  }
  dst[P.dst_base + i] = acc;
}

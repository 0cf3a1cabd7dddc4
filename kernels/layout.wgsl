// Layout kernels. Shapes arrive as uniforms, so one pipeline per entry point serves every shape.
//
// copy_rows: `rows` runs of `run` contiguous elements, each run at its own stride in src and in dst. Concat's
//   insertion (dst the big tensor) and its adjoint, slicing (src the big tensor), are both this copy with the
//   strides swapped, so one entry point serves both.
// pad: out[p, oh, ow] = src[p, oh - off_h, ow - off_w] where that lies inside src, else `value`. With the offsets
//   negated it crops instead, which is pad's adjoint (the gradient of a padded tensor is its interior).
//
// Each entry point declares its own uniform block at binding 0; they never share a pipeline.

struct CopyParams {
  rows: u32, run: u32, dst_stride: u32, src_stride: u32,
  dst_base: u32, src_base: u32, _p0: u32, _p1: u32,
}

struct PadParams {
  planes: u32,        // (n, c) planes in this dispatch
  rows: u32,          // output rows per plane in this dispatch (out_h unless one plane is split)
  row0: u32,          // first output row covered
  in_row0: u32,       // first input row inside the src window
  out_w: u32, in_h: u32, in_w: u32, value: f32,
  off_h: i32, off_w: i32, dst_base: u32, src_base: u32,
}

@group(0) @binding(0) var<uniform> C: CopyParams;
@group(0) @binding(0) var<uniform> P: PadParams;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn copy_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= C.rows * C.run) { return; }
  let row = i / C.run;
  let k = i % C.run;
  dst[C.dst_base + row * C.dst_stride + k] = src[C.src_base + row * C.src_stride + k];
}

@compute @workgroup_size(256)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  let per_plane = P.rows * P.out_w;
  if (i >= P.planes * per_plane) { return; }
  let plane = i / per_plane;
  let oh = P.row0 + (i % per_plane) / P.out_w;
  let ow = i % P.out_w;
  let ih = i32(oh) - P.off_h;
  let iw = i32(ow) - P.off_w;
  var v = P.value;
  if (ih >= 0 && ih < i32(P.in_h) && iw >= 0 && iw < i32(P.in_w)) {
    v = src[P.src_base + plane * P.in_h * P.in_w + (u32(ih) - P.in_row0) * P.in_w + u32(iw)];
  }
  // the output window starts at this dispatch's first element, so the thread index is the output offset
  dst[P.dst_base + i] = v;
}

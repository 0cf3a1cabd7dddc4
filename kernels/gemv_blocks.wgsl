// Matmul with at most 4 rows whose B is contiguous along n, out[m, n] = sum_k A[m, k] B[k, n] (+ bias[n], + out,
// relu): a batch-1 linear layer's input gradient, B being the layer's weight [out, in], on CPU adapters.
// gemv.wgsl walks all of K for 4 columns per invocation, so a subgroup reads 128 bytes of each row of B before it
// moves a whole row (kilobytes) on: every few loads touch a new page. Here a workgroup owns a block of BLOCK_K rows
// and 1,024 columns, 16 per invocation, and writes its partial sums [block, M, N]; the split-K sum (splitk.wgsl)
// adds the blocks and applies the epilogue. The same 4096 x 4096 product took about half the time on lavapipe
// (bench/RESULTS.md).

struct BlockParams {
  M: u32, N: u32, K: u32, block_k: u32,
  a_base: u32, b_base: u32, sam: u32, sak: u32,
  sbk: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> PB: BlockParams;
@group(0) @binding(1) var<storage, read_write> partial_out: array<vec4<f32>>;
{{A_BINDING}}
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;

@compute @workgroup_size(64)
fn block(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n4 = PB.N / 4u;
  let c4 = (wid.x * 64u + lid) * 4u;
  // columns past N read the last four again; they are not stored. Rows past M read the last row again.
  let mlast = PB.M - 1u;
{{SETUP}}
  let k0 = wid.y * PB.block_k;
  let k1 = min(k0 + PB.block_k, PB.K);
  for (var k = k0; k < k1; k += 4u) {
    let brow = (PB.b_base + k * PB.sbk) / 4u;
    let bstep = PB.sbk / 4u;
{{STEP}}
  }
{{STORE}}
}

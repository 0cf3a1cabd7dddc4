// conv2d forward, backward-input, backward-weight and bias gradient against the float64 reference, on
// shapes chosen to miss every tile size: 1x1 maps, stride > kernel, asymmetric padding, dilation 2,
// groups (depthwise included), batch > 1, 1 and 3 input channels.

import test from 'tape';
import { ops } from '../../src/index.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { onEachBackend, webgpuOnCpu } from '../helpers/backends.js';
import { type ConvGeom, conv2d, conv2dVjp, convOut } from '../reference/ref.js';
import { convContext, withAlgorithm, withNarrowTiled } from '../helpers/webgpu.js';

interface Case { name: string; g: Omit<ConvGeom, 'pb' | 'pr'> & { pb?: number; pr?: number }; bias: boolean }

const cases: Case[] = [
  { name: '3x3 pad 1, 3->4 channels, odd 7x9 map', g: { N: 1, C: 3, H: 7, W: 9, O: 4, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'batch 2, 1 channel, 5x5 kernel, stride 2', g: { N: 2, C: 1, H: 11, W: 10, O: 3, KH: 5, KW: 5, sh: 2, sw: 2, pt: 2, pl: 2, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '1x1 map, 1x1 kernel', g: { N: 2, C: 5, H: 1, W: 1, O: 3, KH: 1, KW: 1, sh: 1, sw: 1, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'stride 3 > kernel 2', g: { N: 1, C: 2, H: 10, W: 8, O: 2, KH: 2, KW: 2, sh: 3, sw: 3, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: 'asymmetric padding [0, 2, 1, 0]', g: { N: 1, C: 2, H: 6, W: 5, O: 3, KH: 3, KW: 2, sh: 1, sw: 1, pt: 0, pl: 2, pb: 1, pr: 0, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'dilation 2', g: { N: 1, C: 3, H: 9, W: 9, O: 2, KH: 3, KW: 3, sh: 1, sw: 1, pt: 2, pl: 2, dh: 2, dw: 2, groups: 1 }, bias: true },
  { name: 'groups 2', g: { N: 2, C: 4, H: 5, W: 6, O: 6, KH: 3, KW: 3, sh: 1, sw: 2, pt: 1, pl: 1, dh: 1, dw: 1, groups: 2 }, bias: true },
  { name: 'depthwise (groups = channels), stride 2', g: { N: 1, C: 3, H: 8, W: 7, O: 3, KH: 3, KW: 3, sh: 2, sw: 2, pt: 1, pl: 1, dh: 1, dw: 1, groups: 3 }, bias: false },
  { name: 'AlexNet-style 11x11 stride 4', g: { N: 1, C: 3, H: 23, W: 23, O: 4, KH: 11, KW: 11, sh: 4, sw: 4, pt: 2, pl: 2, dh: 1, dw: 1, groups: 1 }, bias: true },
  // more than 4 channels per group: backward-input runs as a GEMM, not the narrow kernel
  { name: '6 channels, stride 2, asymmetric padding [1, 0, 0, 2]', g: { N: 2, C: 6, H: 9, W: 8, O: 5, KH: 3, KW: 3, sh: 2, sw: 2, pt: 1, pl: 0, pb: 0, pr: 2, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: 'groups 2 of 5 channels, dilation 2', g: { N: 1, C: 10, H: 7, W: 7, O: 4, KH: 3, KW: 3, sh: 1, sw: 1, pt: 2, pl: 1, dh: 2, dw: 2, groups: 2 }, bias: true },
  { name: 'wider than one tile: 70 output channels, 20x19', g: { N: 1, C: 2, H: 20, W: 19, O: 70, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
];

function opCase(c: Case): OpCase {
  const g: ConvGeom = { pb: c.g.pt, pr: c.g.pl, ...c.g };
  const [OH, OW] = convOut(g);
  const cg = g.C / g.groups;
  const inputs = [
    { shape: [g.N, g.C, g.H, g.W] },
    { shape: [g.O, cg, g.KH, g.KW] },
    ...(c.bias ? [{ shape: [g.O] }] : []),
  ];
  return {
    name: c.name,
    inputs,
    shape: [g.N, g.O, OH, OW],
    run: ([x, w, b]) => ops.conv2d(x, w, b, {
      stride: [g.sh, g.sw], padding: [g.pt, g.pl, g.pb, g.pr], dilation: [g.dh, g.dw], groups: g.groups,
    }),
    ref: ([x, w, b]) => conv2d(x, w, c.bias ? b : null, g),
    vjp: ([x, w], r) => {
      const [gx, gw, gb] = conv2dVjp(x, w, r, g);
      return c.bias ? [gx, gw, gb] : [gx, gw];
    },
    // the reduction over K accumulates in float32: allow a little more than elementwise ops
    fwdTol: 1e-5,
    gradTol: 1e-4,
  };
}

await onEachBackend('conv2d', cases.map((c) => [c.name, (t) => checkOp(t, opCase(c))]));

await onEachBackend('conv2d bad input', [
  ['shape and option errors name conv2d and the argument', async (t) => {
    const { tensor } = await import('../../src/index.js');
    const x = tensor(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    const w = tensor(new Float32Array(4 * 3 * 3 * 3), [4, 3, 3, 3]);
    const w2 = tensor(new Float32Array(4 * 2 * 3 * 3), [4, 2, 3, 3]);
    t.throws(() => ops.conv2d(x, w2), /conv2d: w \[4, 2, 3, 3\] expects 2 input channels per group, x \[2, 3, 5, 5\] has 3/);
    t.throws(() => ops.conv2d(x, w, null, { groups: 2 }), /conv2d: groups 2 must divide the input channels 3/);
    t.throws(() => ops.conv2d(x, w, null, { stride: 0 }), /conv2d: stride must be an integer >= 1, got 0/);
    t.throws(() => ops.conv2d(x, w, null, { padding: -1 }), /conv2d: padding must be an integer >= 0, got -1/);
    t.throws(() => ops.conv2d(x, w, null, { dilation: 1.5 }), /conv2d: dilation must be an integer >= 1, got 1.5/);
    t.throws(() => ops.conv2d(x, w, null, { dilation: 3 }), /conv2d: the 3x3 kernel \(dilation 3x3\) does not fit the padded 5x5 input/);
    t.throws(() => ops.conv2d(x.reshape([6, 5, 5]), w), /conv2d: x must be 4-D \[N, C, H, W\], got \[6, 5, 5\]/);
    const b = tensor([1, 2, 3], [3]);
    t.throws(() => ops.conv2d(x, w, b), /conv2d: b must have shape \[4\], got \[3\]/);
    for (const v of [x, w, w2, b]) v.dispose();
  }],
  ['NaN and Inf propagate through the GEMM', async (t) => {
    const { tensor } = await import('../../src/index.js');
    const x = tensor([1, NaN, 3, 4, Infinity, 1, 1, 1, 1], [1, 1, 3, 3]);
    const w = tensor([1], [1, 1, 1, 1]);
    const y = Array.from(await ops.conv2d(x, w).data());
    t.ok(Number.isNaN(y[1]), 'NaN stays NaN');
    t.equal(y[4], Infinity, 'Inf stays Inf');
    t.deepEqual([y[0], y[2], y[8]], [1, 3, 1], 'finite values are untouched');
    // with the ReLU fused into the epilogue: NaN kept (as PyTorch's relu), -Inf and negatives to 0
    const x2 = tensor([1, NaN, -3, 4, Infinity, -Infinity, 0, -1, 2], [1, 1, 3, 3]);
    const r = Array.from(await ops.conv2d(x2, w, null, { fuseRelu: true }).data());
    t.ok(Number.isNaN(r[1]), 'fused ReLU: NaN stays NaN');
    t.deepEqual([r[0], r[2], r[3], r[4], r[5], r[6], r[7], r[8]], [1, 0, 4, Infinity, 0, 0, 0, 2], 'fused ReLU: max(x, 0) elsewhere');
    for (const v of [x, x2, w]) v.dispose();
  }],
]);

// Split-K: GPUs split deep, narrow convolutions over K into slices summed by a second kernel (with the
// bias and ReLU); force three slices so every adapter runs that path.
async function withSplits<T>(n: number, body: () => Promise<T>): Promise<T> {
  const { backend } = await import('../../src/runtime.js');
  const ctx = (backend() as unknown as { ctx?: { splitOverride: number | null } }).ctx;
  if (ctx) ctx.splitOverride = n;
  try {
    return await body();
  } finally {
    if (ctx) ctx.splitOverride = null;
  }
}

await onEachBackend('conv2d split-K', [0, 4, 6].map((i): [string, (t: import('tape').Test) => Promise<void>] =>
  [cases[i].name, (t) => withSplits(3, () => checkOp(t, opCase(cases[i]), 50 + i))]));

// The tiles lavapipe uses by default (the suite pins a quicker-compiling one), and on a GPU adapter the
// GPU's. Compiling a 128-wide tile for one more shape costs lavapipe tens of seconds, so there the check
// runs on one case; the GPU tiles' generator is checked on lavapipe through matmul (linalg.test.ts).
const onCpu = (await import('../helpers/backends.js').then((m) => m.availableBackends()), webgpuOnCpu());
const tileNames = onCpu ? ['cpu', 'cpuNarrow', 'cpuThin', 'cpuTall', 'cpuTall64']
  : ['cpu', 'cpuNarrow', 'cpuThin', 'cpuTall', 'cpuTall64', 'medium', 'wide8', 'large'];
await onEachBackend('conv2d tiles', tileNames.flatMap((tile) => (onCpu ? [0] : [0, 9]).map((i): [string, (t: import('tape').Test) => Promise<void>] =>
  [`${tile} tile: ${cases[i].name}`, async (t) => {
    const { backend } = await import('../../src/runtime.js');
    const { tileConfigs } = await import('../../src/backend/webgpu/gemm.js');
    const ctx = (backend() as unknown as { ctx?: { tileOverride: unknown; convAlgorithm: string | null; isCpuAdapter: boolean } }).ctx;
    if (!ctx) return t.pass('tiles are a WebGPU matter');
    const before = ctx.tileOverride;
    ctx.tileOverride = tileConfigs[tile];
    ctx.convAlgorithm = 'direct'; // the tile pins the implicit GEMM's tile; stride-1 layers would take the subgroup kernel on lavapipe
    try {
      await checkOp(t, opCase(cases[i]), 70 + i);
    } finally {
      ctx.tileOverride = before;
      ctx.convAlgorithm = null;
    }
  }])));

await onEachBackend('conv2d fused ReLU', [
  ['fuseRelu equals relu(conv2d), split and not', async (t) => {
    const { randn } = await import('../../src/index.js');
    const x = randn([2, 3, 6, 7], { seed: 5 }), w = randn([5, 3, 3, 3], { seed: 6 }), b = randn([5], { seed: 7 });
    const want = Array.from(await ops.relu(ops.conv2d(x, w, b, { padding: 1 })).data());
    for (const splits of [1, 3]) {
      const got = await withSplits(splits, () => ops.conv2d(x, w, b, { padding: 1, fuseRelu: true }).data());
      t.ok(got.every((v, i) => Math.abs(v - want[i]) <= 1e-5 * (1 + Math.abs(want[i]))), `${splits} slice(s)`);
    }
  }],
]);

// Winograd F(2x2, 3x3) and F(4x4, 3x3) (src/backend/webgpu/winograd.ts) for 3x3 stride-1 layers, forward and
// backward-input, forced on every WebGPU adapter (the tuner's candidates on GPUs), and the direct implicit GEMM on
// the same cases: all against the float64 reference. F(4x4)'s tiles cover 4x4 outputs: the 7x9 map has a partial
// tile of 3 rows and 1 column, the 5x6 a 1-row and a 2-column one.
const winogradCases: Case[] = [
  // small channel counts: the float64 reference's finite differences cost grows with every input and weight
  { name: '6->5 channels, batch 2, 6x6, pad 1', g: { N: 2, C: 6, H: 6, W: 6, O: 5, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '5->4, odd 7x9 map (a half tile at the edges), pad 1', g: { N: 1, C: 5, H: 7, W: 9, O: 4, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: '6->5, no padding, 6x5', g: { N: 1, C: 6, H: 6, W: 5, O: 5, KH: 3, KW: 3, sh: 1, sw: 1, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '5->6, padding 2, 5x6', g: { N: 1, C: 5, H: 5, W: 6, O: 6, KH: 3, KW: 3, sh: 1, sw: 1, pt: 2, pl: 2, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '6->4, asymmetric padding [1, 2, 0, 1]', g: { N: 1, C: 6, H: 6, W: 7, O: 4, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 2, pb: 0, pr: 1, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: '3->5, 1x1 map', g: { N: 2, C: 3, H: 1, W: 1, O: 5, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
];


await onEachBackend('conv2d Winograd', winogradCases.flatMap((c, i) => (['winograd', 'winograd4', 'direct'] as const).map(
  (alg): [string, (t: import('tape').Test) => Promise<void>] => [`${alg}: ${c.name}`, async (t) => {
    const ran = await withAlgorithm(alg, async (labels) => {
      await checkOp(t, opCase(c), 90 + i);
      const transforms = labels.filter((l) => l === `${alg}:input`).length;
      // one forward and one backward-input, each through the transforms or neither; with at most 4 input
      // channels backward-input keeps its narrow kernel
      const want = alg === 'direct' ? 0 : c.g.C <= 4 ? 1 : 2;
      t.equal(transforms, want, `${want} of the 2 passes went through the Winograd transforms`);
      return true;
    });
    if (ran === null) t.pass('the convolution algorithm is a WebGPU matter');
  }])));

// Accuracy at a VGG layer's channel count: float32 sums of 2,304 products per output, against float64. F(4x4)'s
// transforms scale by up to 8 and 1/24 and lose about a decimal digit (1.4e-5 of the largest output measured on
// lavapipe, against 7e-7 for F(2x2) and 2e-6 for the direct GEMM); a transform with a wrong coefficient is off by
// the order of the output itself.
await onEachBackend('conv2d Winograd accuracy', [
  ['256 -> 256 channels at 8x8, He-scaled weights: each algorithm against float64', async (t) => {
    const { tensor } = await import('../../src/index.js');
    const { uniform } = await import('../helpers/numeric.js');
    const g: ConvGeom = { N: 2, C: 256, H: 8, W: 8, O: 256, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
    const xs = uniform([2, 256, 8, 8], 501), ws = uniform([256, 256, 3, 3], 502).map((v) => v * Math.sqrt(6 / (9 * 256)));
    const want = conv2d(Float64Array.from(xs), Float64Array.from(ws), null, g);
    const largest = Math.max(...Array.from(want, Math.abs));
    const x = tensor(xs, [2, 256, 8, 8]), w = tensor(ws, [256, 256, 3, 3]);
    const { tileConfigs, tileKey } = await import('../../src/backend/webgpu/gemm.js');
    const cases = [['direct', 5e-6], ['winograd', 5e-6], ['winograd4', 5e-5], ['winograd4:large', 5e-5], ['winograd4:medium', 5e-5]] as const;
    for (const [alg, tol] of cases) {
      const got = await withAlgorithm(alg, async (labels) => {
        const y = await ops.conv2d(x, w, null, { padding: 1 }).data();
        // a named GEMM tile is the one the Winograd GEMM ran on
        const tile = alg.split(':')[1];
        if (tile) t.ok(labels.some((l) => l.startsWith('winogradGemm:') && l.endsWith(`tile=${tileKey(tileConfigs[tile])}`)), `${alg}: the GEMM ran on ${tile}`);
        return y;
      });
      if (got === null) return t.pass('the convolution algorithm is a WebGPU matter');
      let worst = 0;
      got.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - want[i])); });
      t.ok(worst <= tol * largest, `${alg}: largest error ${(worst / largest).toExponential(2)} of the largest output (< ${tol})`);
    }
    x.dispose();
    w.dispose();
  }],
]);

// How a batch is cut into Winograd chunks (winograd.ts winogradImagesPerChunk), on a stand-in for the device's
// limits: sizes worked out by hand from a² x channels x tiles per image (a = 4 for F(2x2), 6 for F(4x4)).
test('Winograd chunks: images per chunk under the cap, one binding and the workgroup grid', async (t) => {
  const { winogradImagesPerChunk, parseWinograd } = await import('../../src/backend/webgpu/winograd.js');
  type Ctx = Parameters<typeof winogradImagesPerChunk>[0];
  const device = (maxWindowElements: number, maxWorkgroups = 65535) => ({ maxWindowElements, maxWorkgroups }) as unknown as Ctx;
  const big = device(2 ** 29);
  const vgg = { batch: 32, cin: 64, cout: 64, h: 224, w: 224, oh: 224, ow: 224, padTop: 1, padLeft: 1 };
  // F(2x2): 16 x 64 x 12,544 = 12,845,056 floats (51.4 MB) an image: 5 under 256 MiB
  t.equal(winogradImagesPerChunk(big, vgg, parseWinograd('winograd')!), 5, 'F(2x2) at 224, 64 channels: 5 images a chunk');
  // F(4x4): 36 x 64 x 3,136 = 7,225,344 floats (28.9 MB): 9 make 260.1 MB, 10 would be 289 MB (256 MiB is 268.4 MB)
  t.equal(winogradImagesPerChunk(big, vgg, parseWinograd('winograd4')!), 9, 'F(4x4): 9 images a chunk');
  t.equal(winogradImagesPerChunk(big, vgg, parseWinograd('winograd4@16')!), 1, 'F(4x4) under 16 MiB: one image (it is 28.9 MB)');
  t.equal(winogradImagesPerChunk(big, { ...vgg, batch: 3 }, parseWinograd('winograd4')!), 3, 'never more than the batch');
  t.equal(winogradImagesPerChunk(device(20_000_000), vgg, parseWinograd('winograd')!), 1, 'a binding of 20M floats holds one image');
  t.equal(winogradImagesPerChunk(device(12_000_000), vgg, parseWinograd('winograd')!), 0, 'one of 12M floats none: the variant cannot run');
  // 1 channel at 256x256: 16,384 tiles and 262,144 floats (1 MiB) an image; the cap allows 256 images, but a
  // GEMM tile 16 columns wide could then need 262,144 workgroups along x: 65,535 x 16 / 16,384 = 63 images
  const thin = { batch: 256, cin: 1, cout: 1, h: 256, w: 256, oh: 256, ow: 256, padTop: 1, padLeft: 1 };
  t.equal(winogradImagesPerChunk(big, thin, parseWinograd('winograd')!), 63, 'the workgroup grid bounds a chunk\'s tiles');
  t.equal(parseWinograd('winograd4@0'), null, 'a zero cap is no variant');
  t.equal(parseWinograd('winograd3'), null, 'F(3x3) is no variant');
  t.deepEqual(parseWinograd('winograd@64'), { m: 2, chunkBytes: 64 * 2 ** 20, tile: null }, 'winograd@64: F(2x2), 64 MiB');
  t.deepEqual(parseWinograd('winograd4@16:large'), { m: 4, chunkBytes: 16 * 2 ** 20, tile: 'large' }, 'winograd4@16:large: F(4x4), 16 MiB, the 128x128 tile');
  t.equal(parseWinograd('winograd4:huge'), null, 'a tile that does not exist is no variant');
});

// The GEMM tile rule counts a batched dispatch's tiles over its batch (matmul.ts pickTile), and on GPUs the tuner
// also times F(4x4) on the 64x64 / 128x128 tile the rule did not pick (conv.ts winogradCandidates); on a stand-in
// for a GPU's limits, VGG16's layers at batch 32 and 1.
test('GEMM tiles: batched dispatches count their tiles; the tuner times the other Winograd GEMM tile', async (t) => {
  const { pickTile } = await import('../../src/backend/webgpu/matmul.js');
  const { tileConfigs } = await import('../../src/backend/webgpu/gemm.js');
  const { winogradCandidates } = await import('../../src/backend/webgpu/conv.js');
  type Ctx = Parameters<typeof pickTile>[0];
  const gpu = { isCpuAdapter: false, tileOverride: null, maxWindowElements: 2 ** 29, maxWorkgroups: 65535 } as unknown as Ctx;
  // 256 rows x 6,272 columns (256 channels at 56x56, batch 32, F(4x4)): 2 x 49 = 98 tiles of 128x128 alone, 3,528 over 36
  t.equal(pickTile(gpu, 256, 6272), tileConfigs.medium, 'one 256 x 6272 GEMM: the 64x64 tile (98 tiles of 128x128)');
  t.equal(pickTile(gpu, 256, 6272, 'k', 'mn', 36), tileConfigs.large, '36 of them in one dispatch: the 128x128 tile');
  t.equal(pickTile(gpu, 64, 6272, 'k', 'mn', 36), tileConfigs.wide8, '64 rows: wide8 whatever the batch');
  const layer = (batch: number, channels: number, size: number) =>
    ({ batch, cin: channels, cout: channels, h: size, w: size, oh: size, ow: size, padTop: 1, padLeft: 1 });
  // F(4x4) at 256 channels, 56x56: 7.2 MB an image (the whole batch of 32 in one 256 MiB chunk, 2 images in 16 MiB);
  // at 64 channels, 224x224: 28.9 MB (9 images a chunk, one in 16 MiB)
  t.deepEqual(winogradCandidates(gpu, layer(32, 256, 56)), ['winograd', 'winograd4', 'winograd4@16', 'winograd4:medium'],
    'batch 32, 256 channels at 56: F(4x4) in small chunks and on 64x64 too');
  t.deepEqual(winogradCandidates(gpu, layer(1, 256, 56)), ['winograd', 'winograd4', 'winograd4:large'], 'batch 1: F(4x4) on 128x128 too');
  t.deepEqual(winogradCandidates(gpu, layer(32, 64, 224)), ['winograd', 'winograd4', 'winograd4@16'], '64 channels (wide8): no other tile');
  const cpu = { ...gpu, isCpuAdapter: true } as unknown as Ctx;
  t.deepEqual(winogradCandidates(cpu, layer(32, 256, 56)), ['winograd', 'winograd4'], 'a CPU adapter: the two variants alone');
});

/** Whether the WebGPU adapter runs the subgroup kernel (8-invocation subgroups: lavapipe); false elsewhere. */
async function subgroupAvailable(): Promise<boolean> {
  return convContext()?.subgroupSize === 8;
}

// The subgroup kernel (src/backend/webgpu/subgroupconv.ts) for stride-1 layers on adapters with 8-invocation
// subgroups, where it is the default: forced here, on shapes that miss its tile edges: channels not a multiple of
// 4 (the padded channels), widths not a multiple of 4 (the padding columns), more than one tile of rows (32) and
// of columns (64) with partial last tiles, non-square kernels, asymmetric and zero padding, a 4x4 map (the 32-column
// tile), batches. Elsewhere the forced choice falls back to the direct GEMM, and the same checks hold.
const subgroupCases: Case[] = [
  { name: '5->37 channels, 11x9 map (3 column tiles, 2 row tiles), pad 1', g: { N: 1, C: 5, H: 11, W: 9, O: 37, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '6->5, batch 3, 2x3 kernel, asymmetric padding [1, 2, 0, 1]', g: { N: 3, C: 6, H: 5, W: 7, O: 5, KH: 2, KW: 3, sh: 1, sw: 1, pt: 1, pl: 2, pb: 0, pr: 1, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: '7->6, 5x5 kernel, pad 2, 6x6', g: { N: 2, C: 7, H: 6, W: 6, O: 6, KH: 5, KW: 5, sh: 1, sw: 1, pt: 2, pl: 2, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '8->6, 1x1 kernel, no padding, 5x3', g: { N: 2, C: 8, H: 5, W: 3, O: 6, KH: 1, KW: 1, sh: 1, sw: 1, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '6->9, no padding, 7x6 (the 32-column tile)', g: { N: 1, C: 6, H: 7, W: 6, O: 9, KH: 3, KW: 3, sh: 1, sw: 1, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: '6->40, 4x3 map (the 16-column tile, both lane halves storing rows)', g: { N: 1, C: 6, H: 4, W: 3, O: 40, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '3->6 channels (backward-input: the narrow kernel), 4x4 map', g: { N: 1, C: 3, H: 4, W: 4, O: 6, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'stride 2 (not the kernel\'s: the direct GEMM)', g: { N: 1, C: 6, H: 7, W: 7, O: 5, KH: 3, KW: 3, sh: 2, sw: 2, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
];

await onEachBackend('conv2d subgroup kernel', subgroupCases.map((c, i): [string, (t: import('tape').Test) => Promise<void>] => [c.name, async (t) => {
  const ran = await withAlgorithm('subgroup', async (labels) => {
    await checkOp(t, opCase(c), 110 + i);
    return labels;
  });
  if (ran === null) return t.pass('the convolution algorithm is a WebGPU matter');
  // one forward and one backward-input through the shifted copies where the kernel runs, the shape is stride 1,
  // and backward-input is not the narrow kernel's (at most 4 input channels)
  const fits = c.g.sh === 1 && (await subgroupAvailable());
  const want = !fits ? 0 : c.g.C <= 4 ? 1 : 2;
  t.equal(ran.filter((l) => l === 'subgroupConv:pad').length, want, `${want} of the 2 passes went through the subgroup kernel`);
}]));

await onEachBackend('conv2d subgroup kernel fused ReLU', [
  ['subgroup kernel with fuseRelu equals relu(conv2d)', async (t) => {
    const { randn } = await import('../../src/index.js');
    const x = randn([2, 16, 6, 7], { seed: 25 }), w = randn([40, 16, 3, 3], { seed: 26 }), b = randn([40], { seed: 27 });
    const g: ConvGeom = { N: 2, C: 16, H: 6, W: 7, O: 40, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
    const f64 = async (v: typeof x) => Float64Array.from(await v.data());
    const want = conv2d(await f64(x), await f64(w), await f64(b), g).map((v) => Math.max(v, 0));
    const got = await withAlgorithm('subgroup', () => ops.conv2d(x, w, b, { padding: 1, fuseRelu: true }).data());
    if (got === null) return t.pass('the convolution algorithm is a WebGPU matter');
    t.ok(got.every((v, i) => Math.abs(v - want[i]) <= 1e-5 * (1 + Math.abs(want[i]))), 'relu(conv + bias) in the epilogue');
  }],
]);

await onEachBackend('conv2d Winograd fused ReLU', (['winograd', 'winograd4'] as const).map((alg): [string, (t: import('tape').Test) => Promise<void>] =>
  [`${alg} with fuseRelu equals relu(conv2d)`, async (t) => {
    const { randn } = await import('../../src/index.js');
    const x = randn([2, 16, 6, 7], { seed: 15 }), w = randn([18, 16, 3, 3], { seed: 16 }), b = randn([18], { seed: 17 });
    // The same algorithm unfused, then ReLU: the fused rule is what differs (F(4x4)'s own float32 error against the
    // exact sums, ~1e-5 of the largest output, is the accuracy tests' matter).
    const unfused = await withAlgorithm(alg, () => ops.relu(ops.conv2d(x, w, b, { padding: 1 })).data());
    const want = unfused === null ? [] : Array.from(unfused);
    const got = await withAlgorithm(alg, async (labels) => {
      const y = await ops.conv2d(x, w, b, { padding: 1, fuseRelu: true }).data();
      t.equal(labels.filter((l) => l === `${alg}:output`).length, 1, 'through the output transform');
      return y;
    });
    if (got === null) return t.pass('the convolution algorithm is a WebGPU matter');
    const scale = Math.max(...want.map(Math.abs));
    t.ok(got.every((v, i) => Math.abs(v - want[i]) <= 1e-5 * (1 + Math.abs(want[i])) + 2e-6 * scale), 'relu(conv + bias) in the output transform');
    t.ok(got.every((v, i) => want[i] > 0 || v === 0), 'negative sums are zeros');
  }]));

// fuseRelu on the tape: one node whose backward applies the pass's ReLU rule (Sect. 4) from the saved output, then
// the convolution's backward; against the float64 reference: y = relu(conv), and the upstream signal r turned
// into r 1(y > 0) ('gradient'), relu(r) ('deconvnet') or relu(r) 1(y > 0) ('guided') before conv's adjoint.
// With x alone needing its gradient (saliency), the rule runs inside the backward-input kernel's loader: through
// the direct GEMM, through Winograd's input transform, and from a masked copy for the narrow kernel (3 channels).
type Rule = 'gradient' | 'deconvnet' | 'guided';
async function fusedOnTape(t: import('tape').Test, rule: Rule, C: number, all: boolean): Promise<void> {
  const { tensor } = await import('../../src/index.js');
  const { uniform } = await import('../helpers/numeric.js');
  const g: ConvGeom = { N: 2, C, H: 5, W: 6, O: 7, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
  const [OH, OW] = convOut(g);
  const xs = uniform([g.N, g.C, g.H, g.W], 401), ws = uniform([g.O, g.C, 3, 3], 402), bs = uniform([g.O], 403), rs = uniform([g.N, g.O, OH, OW], 404);
  const f64 = (a: Float32Array) => Float64Array.from(a);
  const y64 = conv2d(f64(xs), f64(ws), f64(bs), g).map((v) => Math.max(v, 0));
  const r64 = f64(rs).map((r, i) => {
    const down = rule === 'gradient' ? r : Math.max(r, 0);
    return rule === 'deconvnet' || y64[i] > 0 ? down : 0;
  });
  const [gx64, gw64, gb64] = conv2dVjp(f64(xs), f64(ws), r64, g);
  const x = tensor(xs, [g.N, g.C, g.H, g.W]), w = tensor(ws, [g.O, g.C, 3, 3]), b = tensor(bs, [g.O]), r = tensor(rs, [g.N, g.O, OH, OW]);
  for (const v of all ? [x, w, b] : [x]) v.requiresGrad = true;
  const y = ops.conv2d(x, w, b, { padding: 1, fuseRelu: true });
  const yData = await y.data();
  t.ok(yData.every((v, i) => Math.abs(v - y64[i]) <= 1e-5 * (1 + Math.abs(y64[i]))), 'the output is relu(conv + b)');
  y.backward(r, { reluRule: rule });
  const near = (got: Float32Array, want: Float64Array) => {
    const scale = Math.max(1, ...Array.from(want, Math.abs));
    return got.every((v, i) => Math.abs(v - want[i]) <= 1e-5 * scale);
  };
  t.ok(near(await x.grad!.data(), gx64), 'the input gradient equals the reference');
  if (all) {
    t.ok(near(await w.grad!.data(), gw64), 'the weight gradient equals the reference');
    t.ok(near(await b.grad!.data(), gb64), 'the bias gradient equals the reference');
  } else {
    t.equal(w.grad, null, 'no weight gradient asked for, none made');
  }
  for (const v of [x, w, b, r, y, x.grad, w.grad, b.grad]) v?.dispose();
}

await onEachBackend('conv2d fused ReLU on the tape', (['gradient', 'deconvnet', 'guided'] as const).flatMap((rule): [string, (t: import('tape').Test) => Promise<void>][] => [
  [`rule '${rule}': gradients for x, w and b`, (t) => fusedOnTape(t, rule, 6, true)],
  [`rule '${rule}': x alone, the rule in the direct GEMM's loader`, async (t) => {
    const ran = await withAlgorithm('direct', async (labels) => {
      await fusedOnTape(t, rule, 6, false);
      t.equal(labels.filter((l) => l.startsWith('elementwise:relu')).length, 0, 'no separate ReLU pass');
      return true;
    });
    if (ran === null) t.pass('the convolution algorithm is a WebGPU matter');
  }],
  [`rule '${rule}': x alone, the rule in the subgroup kernel's shifted copy`, async (t) => {
    const ran = await withAlgorithm('subgroup', async (labels) => {
      await fusedOnTape(t, rule, 6, false);
      t.equal(labels.filter((l) => l.startsWith('elementwise:relu')).length, 0, 'no separate ReLU pass');
      return labels;
    });
    if (ran === null) return t.pass('the convolution algorithm is a WebGPU matter');
    const sub = await subgroupAvailable();
    t.equal(ran.filter((l) => l === 'subgroupConv:pad').length, sub ? 2 : 0, `forward and backward-input through the subgroup kernel: ${sub}`);
  }],
  [`rule '${rule}': x alone, 3 channels (the narrow kernel)`, (t) => fusedOnTape(t, rule, 3, false)],
  ...(['winograd', 'winograd4'] as const).map((alg): [string, (t: import('tape').Test) => Promise<void>] =>
    [`rule '${rule}': x alone, through ${alg}'s input transform`, async (t) => {
      const ran = await withAlgorithm(alg, async (labels) => {
        await fusedOnTape(t, rule, 6, false);
        t.equal(labels.filter((l) => l === `${alg}:input`).length, 2, 'forward and backward-input both ran through Winograd');
        t.equal(labels.filter((l) => l.startsWith('elementwise:relu')).length, 0, 'no separate ReLU pass either way');
        return true;
      });
      if (ran === null) t.pass('the convolution algorithm is a WebGPU matter');
    }]),
]));

// The tiled narrow backward-input (kernels/conv_dx_narrow_tiled.wgsl: at most 4 channels per group, stride 1, no
// dilation; the default on GPUs, the plain kernel the default on CPU adapters), forced on, on shapes that miss its
// edges: maps over one 16x16 tile with partial tiles, output channels not a multiple of the staged chunk, batches,
// kernels that stage 8, 4, 2 and 1 channels at a time (3x3, 7x7, 11x11, 24x24), a non-square kernel with
// asymmetric padding, 1x1 kernels in groups, 1 to 4 channels, and strided or dilated shapes and a 25x25 kernel,
// which keep the plain kernel. Forward and
// weight gradient are checked too (checkOp); the kernel label says which backward-input ran. (Small maps: the
// finite differences run a float64 convolution per input element.)
const narrowCases: Case[] = [
  { name: '3->11, 18x17 (partial tiles), pad 1', g: { N: 1, C: 3, H: 18, W: 17, O: 11, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '4->12, 5x3 kernel, asymmetric padding [2, 0, 1, 2], 17x9', g: { N: 1, C: 4, H: 17, W: 9, O: 12, KH: 5, KW: 3, sh: 1, sw: 1, pt: 2, pl: 0, pb: 1, pr: 2, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: '1->5, batch 2, 7x7 kernel, pad 3, 17x16', g: { N: 2, C: 1, H: 17, W: 16, O: 5, KH: 7, KW: 7, sh: 1, sw: 1, pt: 3, pl: 3, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '2->3, 11x11 kernel, no padding, 20x23', g: { N: 1, C: 2, H: 20, W: 23, O: 3, KH: 11, KW: 11, sh: 1, sw: 1, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: 'groups 2 of 2 channels, 1x1 kernel, 9x40', g: { N: 3, C: 4, H: 9, W: 40, O: 6, KH: 1, KW: 1, sh: 1, sw: 1, pt: 0, pl: 0, dh: 1, dw: 1, groups: 2 }, bias: true },
  { name: '1->2, 24x24 kernel (one channel staged at a time), pad 12, 2x3', g: { N: 1, C: 1, H: 2, W: 3, O: 2, KH: 24, KW: 24, sh: 1, sw: 1, pt: 12, pl: 12, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: '1->2, 25x25 kernel (too large: the plain kernel), pad 12, 2x2', g: { N: 1, C: 1, H: 2, W: 2, O: 2, KH: 25, KW: 25, sh: 1, sw: 1, pt: 12, pl: 12, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: 'stride 2 (the plain kernel)', g: { N: 1, C: 3, H: 11, W: 10, O: 4, KH: 3, KW: 3, sh: 2, sw: 2, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'dilation 2 (the plain kernel)', g: { N: 1, C: 3, H: 9, W: 9, O: 2, KH: 3, KW: 3, sh: 1, sw: 1, pt: 2, pl: 2, dh: 2, dw: 2, groups: 1 }, bias: false },
];

await onEachBackend('conv2d narrow backward-input, tiled', narrowCases.map((c, i): [string, (t: import('tape').Test) => Promise<void>] => [c.name, async (t) => {
  const labels = await withNarrowTiled(true, async (l) => {
    await checkOp(t, opCase(c), 140 + i);
    return l;
  });
  if (labels === null) return t.pass('the narrow kernels are a WebGPU matter');
  // channels staged at a time: the most of 8, 4, 2, 1 whose dY windows and vec4 weights fit in WebGPU's default 16 KiB
  const perChannel = (16 + c.g.KH - 1) * (16 + c.g.KW - 1) * 4 + c.g.KH * c.g.KW * 16;
  const staged = [8, 4, 2, 1].find((n) => n * perChannel <= 16384) ?? 0;
  const tiled = c.g.sh === 1 && c.g.sw === 1 && c.g.dh === 1 && c.g.dw === 1 && staged > 0;
  const dx = labels.filter((l) => l.startsWith('conv2dBackwardInput'));
  t.ok(dx.length > 0 && dx.every((l) => (tiled ? new RegExp(`tile=narrowTiled${staged}$`) : /tile=narrow\d$/).test(l)),
    `backward-input ran the ${tiled ? 'tiled' : 'plain'} narrow kernel: ${dx.map((l) => l.split('tile=')[1]).join(', ')}`);
}]));

await onEachBackend('conv2d narrow backward-input, tiled, fused ReLU', (['gradient', 'deconvnet', 'guided'] as const).map(
  (rule): [string, (t: import('tape').Test) => Promise<void>] => [`rule '${rule}': the rule applied as dY is staged`, async (t) => {
    const labels = await withNarrowTiled(true, async (l) => {
      await fusedOnTape(t, rule, 3, false);
      return l;
    });
    if (labels === null) return t.pass('the narrow kernels are a WebGPU matter');
    t.equal(labels.filter((l) => l.startsWith('elementwise:relu')).length, 0, 'no masked copy of dY');
    t.ok(labels.some((l) => /^conv2dBackwardInput .*tile=narrowTiled8$/.test(l)), 'backward-input ran the tiled kernel');
  }]));

// Winograd's transformed weights and the subgroup kernel's reordered ones are kept between calls
// (GpuContext.derivedFrom) and made anew once the weight's buffer is written: by a kernel (an in-place copy, as an
// optimizer step writes) or by an upload.
await onEachBackend('conv2d derived weights', (['winograd', 'winograd4', 'subgroup'] as const).map((alg): [string, (t: import('tape').Test) => Promise<void>] =>
  [`${alg}: kept while the weight stands, made anew after it is written`, async (t) => {
    const { randn } = await import('../../src/index.js');
    const { backend } = await import('../../src/runtime.js');
    const x = randn([1, 8, 6, 6], { seed: 21 }), w = randn([8, 8, 3, 3], { seed: 22 }), w2 = randn([8, 8, 3, 3], { seed: 23 });
    const g: ConvGeom = { N: 1, C: 8, H: 6, W: 6, O: 8, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1 };
    const xs = Float64Array.from(await x.data());
    const w1 = await w.data();
    const want1 = conv2d(xs, Float64Array.from(w1), null, g);
    const want2 = conv2d(xs, Float64Array.from(await w2.data()), null, g);
    const near = (got: Float32Array, want: Float64Array) => got.every((v, i) => Math.abs(v - want[i]) <= 1e-4 * (1 + Math.abs(want[i])));
    const available = alg !== 'subgroup' || await subgroupAvailable();
    const ran = await withAlgorithm(alg, async (labels) => {
      if (!available) return false;
      const count = () => labels.filter((l) => l === `${alg === 'subgroup' ? 'subgroupConv' : alg}:weights`).length;
      const once = async () => {
        const y = ops.conv2d(x, w, null, { padding: 1 });
        const v = await y.data();
        y.dispose();
        return v;
      };
      t.ok(near(await once(), want1), 'first call: the reference');
      t.equal(count(), 1, 'the weight transformed once');
      t.ok(near(await once(), want1), 'second call: the reference');
      t.equal(count(), 1, 'the second call reused it');
      backend().elementwise('copy', [w2.operand], w.operand); // w := w2 in place, by a kernel
      t.ok(near(await once(), want2), 'after an in-place write: the new weight\'s result');
      t.equal(count(), 2, 'transformed anew');
      backend().upload(w.operand.storage, w.operand.offset, w1); // back to the first weight, by an upload
      t.ok(near(await once(), want1), 'after an upload of the first weight: its result');
      t.equal(count(), 3, 'transformed anew after the upload');
      return true;
    });
    if (ran === null) t.pass('the convolution algorithm is a WebGPU matter');
    if (ran === false) t.pass('this adapter does not run the subgroup kernel');
    const { memory } = await import('../../src/index.js');
    const cached = memory().cachedBuffers, live = memory().liveStorages;
    if (ran) t.equal(cached, 1, 'one transformed weight kept (memory().cachedBuffers), not counted as live');
    for (const v of [x, w, w2]) v.dispose();
    t.equal(memory().cachedBuffers, 0, 'released with its weight');
    t.equal(memory().liveStorages, live - 3, 'live storages: the three tensors fewer');
  }]));

// matmul (2-D, batched, shared right operand) and linear against float64 references, on sizes that are
// not multiples of any tile, plus every GEMM tile configuration on one shape.

import { ops, tensor } from '../../src/index.js';
import { availableBackends, onEachBackend, webgpuOnCpu } from '../helpers/backends.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { relErr } from '../helpers/numeric.js';
import { matmul, transpose } from '../reference/ref.js';

function mmCase(batch: number[], M: number, K: number, N: number, sharedB: boolean): OpCase {
  const B = batch.reduce((a, b) => a * b, 1);
  return {
    name: `matmul ${JSON.stringify([...batch, M, K])} @ ${JSON.stringify(sharedB ? [K, N] : [...batch, K, N])}`,
    inputs: [{ shape: [...batch, M, K] }, { shape: sharedB ? [K, N] : [...batch, K, N] }],
    shape: [...batch, M, N],
    run: ([a, b]) => ops.matmul(a, b),
    ref: ([a, b]) => {
      const y = new Float64Array(B * M * N);
      for (let i = 0; i < B; i++) {
        y.set(matmul(a.subarray(i * M * K, (i + 1) * M * K), sharedB ? b : b.subarray(i * K * N, (i + 1) * K * N), M, K, N), i * M * N);
      }
      return y;
    },
    vjp: ([a, b], r) => {
      if (B !== 1) return [null, null];
      return [matmul(r, transpose(b, K, N), M, N, K), matmul(transpose(a, M, K), r, K, M, N)];
    },
  };
}

function linearCase(N: number, I: number, O: number, bias: boolean): OpCase {
  return {
    name: `linear [${N}, ${I}] -> ${O}${bias ? ' with bias' : ''}`,
    inputs: [{ shape: [N, I] }, { shape: [O, I] }, ...(bias ? [{ shape: [O] }] : [])],
    shape: [N, O],
    run: ([x, w, b]) => ops.linear(x, w, b),
    ref: ([x, w, b]) => {
      const y = matmul(x, transpose(w, O, I), N, I, O);
      if (bias) for (let i = 0; i < N; i++) for (let j = 0; j < O; j++) y[i * O + j] += b[j];
      return y;
    },
  };
}

const cases: OpCase[] = [
  mmCase([], 1, 1, 1, true),
  mmCase([], 5, 7, 3, true),
  mmCase([], 33, 17, 65, true),
  mmCase([], 130, 9, 70, true),
  mmCase([3], 4, 6, 5, false),
  mmCase([2, 2], 3, 5, 4, false),
  mmCase([3], 4, 6, 5, true),
  linearCase(1, 10, 7, true),
  linearCase(3, 25, 13, true),
  linearCase(2, 9, 130, false),
  // at most 4 rows: the GEMV kernel on CPU adapters (K not a multiple of its unroll, N not of its 4 columns)
  mmCase([], 4, 37, 66, true),
  mmCase([], 3, 131, 11, true),
  mmCase([], 2, 3, 5, true),
  linearCase(4, 67, 9, true),
  // ... and its vec4 layouts: B contiguous along k (a linear layer's forward) or along n (its input gradient)
  mmCase([], 2, 16, 12, true),
  linearCase(1, 64, 12, true),
  linearCase(2, 32, 20, false),
];

// Every tile the backend may choose on this adapter, forward and backward. The GPU tiles prefetch and take
// tens of seconds each to compile on lavapipe, so a CPU adapter checks one of them, forward only, for the
// generator's prefetching path; a GPU adapter runs every tile (and picks them in every other test).
await availableBackends();
const onCpu = webgpuOnCpu();
const tiles = onCpu ? ['cpu', 'cpuNarrow', 'cpuThin', 'cpuTall', 'cpuTall64', 'medium']
  : ['small', 'cpu', 'cpuNarrow', 'cpuThin', 'cpuTall', 'cpuTall64', 'medium', 'wide8', 'large'];
const gpuOnly = new Set(['medium', 'wide8', 'large']);

await onEachBackend('linalg', [
  ...cases.map((c, i): [string, (t: import('tape').Test) => Promise<void>] => [c.name, (t) => checkOp(t, c, i + 1)]),
  ...tiles.map((name): [string, (t: import('tape').Test) => Promise<void>] => [`every GEMM tile: ${name}`, async (t, backend) => {
    if (backend !== 'webgpu') {
      t.pass('tile configurations are a WebGPU matter');
      return;
    }
    const { backend: current } = await import('../../src/runtime.js');
    const { tileConfigs } = await import('../../src/backend/webgpu/gemm.js');
    const ctx = (current() as unknown as { ctx: { tileOverride: unknown; isCpuAdapter: boolean } }).ctx;
    const before = ctx.tileOverride;
    ctx.tileOverride = tileConfigs[name];
    try {
      const c = mmCase([], 67, 19, 131, true);
      await checkOp(t, gpuOnly.has(name) && ctx.isCpuAdapter ? { ...c, forwardOnly: true } : c, 5);
      if (!onCpu) await checkOp(t, linearCase(3, 45, 200, true), 6);
    } finally {
      ctx.tileOverride = before;
    }
  }]),
  ...[cases[3], cases[4], cases[8]].map((c): [string, (t: import('tape').Test) => Promise<void>] => [`split-K: ${c.name}`, async (t) => {
    const { backend: current } = await import('../../src/runtime.js');
    const ctx = (current() as unknown as { ctx?: { splitOverride: number | null } }).ctx;
    if (ctx) ctx.splitOverride = 2;
    try {
      await checkOp(t, c, 31);
    } finally {
      if (ctx) ctx.splitOverride = null;
    }
  }]),
  ['backend matmul epilogues with few rows (bias, accumulate, relu; transposed operands)', async (t) => {
    const { backend: current } = await import('../../src/runtime.js');
    const b = current();
    const next = (() => { let s = 7; return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1; })();
    // on webgpu both GEMV kernels, whatever the adapter would pick: the lanes kernel (CPU adapters) and the
    // workgroup kernel (GPUs; its two vec4 modes, K spread over up to 256 invocations, partial last groups)
    const ctx = (b as unknown as { ctx?: { gemvKernel: 'lanes' | 'workgroup' | null; isCpuAdapter: boolean; timestampWrites: ((label: string) => undefined) | null } }).ctx;
    const kinds = ctx ? (['lanes', 'workgroup'] as const) : [null];
    const shapes = [[1, 9, 10], [2, 20, 7], [4, 5, 13], [4, 8, 12], [1, 16, 4], [1, 2052, 70], [3, 300, 132], [4, 1028, 68], [2, 64, 4], [1, 520, 36]];
    for (const kind of kinds) for (const [M, K, N] of shapes) {
      if (ctx) ctx.gemvKernel = kind;
      for (const [transA, transB] of [[false, true], [true, false], [false, false]]) {
        const A = Float32Array.from({ length: M * K }, next), B = Float32Array.from({ length: K * N }, next);
        const bias = Float32Array.from({ length: N }, next), prior = Float32Array.from({ length: M * N }, next);
        const at = tensor(A, transA ? [K, M] : [M, K]), bt = tensor(B, transB ? [N, K] : [K, N]);
        const biasT = tensor(bias, [N]);
        const outT = tensor(prior, [M, N]);
        const labels: string[] = [];
        if (ctx) ctx.timestampWrites = (label) => { labels.push(label); return undefined; };
        b.matmul(at.operand, bt.operand, outT.operand, { transA, transB, accumulate: true, bias: biasT.operand, relu: true });
        if (ctx) ctx.timestampWrites = null;
        if (kind === 'lanes' && ctx!.isCpuAdapter) {
          // B contiguous along n with more than 256 rows: blocks of rows into partial sums (kernels/gemv_blocks.wgsl)
          const blocked = !transB && N % 4 === 0 && K % 4 === 0 && K > 256;
          const used = labels.some((l) => /^gemv .* tile=\d+v?blocks$/.test(l));
          t.equal(used, blocked, `M ${M} K ${K} N ${N} transA ${transA} transB ${transB}: row blocks ${blocked}`);
        }
        if (kind === 'workgroup') {
          // its vec4 modes: B contiguous along k with A along k ('k'), or B contiguous along n ('n'); else the GEMM
          const mode = !transA && transB && K % 4 === 0 ? 'k' : !transB && N % 4 === 0 ? 'n' : null;
          const used = labels.find((l) => l.startsWith('gemv '))?.match(/tile=wg-(\w)/)?.[1] ?? null;
          t.equal(used, mode, `M ${M} K ${K} N ${N} transA ${transA} transB ${transB}: workgroup GEMV mode ${mode ?? 'none (the GEMM)'}`);
        }
        const got = await outT.data();
        const want = new Float64Array(M * N);
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
          let s = prior[m * N + n] + bias[n];
          for (let k = 0; k < K; k++) s += A[transA ? k * M + m : m * K + k] * B[transB ? n * K + k : k * N + n];
          want[m * N + n] = Math.max(s, 0);
        }
        t.ok(relErr(got, want) < 1e-5, `${kind ? `${kind} GEMV, ` : ''}M ${M} K ${K} N ${N} transA ${transA} transB ${transB}: ` +
          `relu(out + A B + bias) (${relErr(got, want).toExponential(1)})`);
        for (const x of [at, bt, biasT, outT]) x.dispose();
      }
    }
    if (ctx) ctx.gemvKernel = null;
  }],
  ['matmul and linear reject mismatched shapes', (t) => {
    const a = tensor(new Float32Array(6), [2, 3]), b = tensor(new Float32Array(8), [4, 2]);
    t.throws(() => ops.matmul(a, b), /matmul: inner sizes differ: a \[2, 3\] has K = 3, b \[4, 2\] has K = 4/);
    t.throws(() => ops.linear(a, b), /linear: x \[2, 3\] has 3 inputs but w \[4, 2\] expects 2/);
    t.throws(() => ops.matmul(tensor([1], [1]), b), /matmul: a and b must be at least 2-D/);
    a.dispose();
    b.dispose();
  }],
]);

// `npm run bench -- profile`: where the time of one VGG16 saliency call goes on a WebGPU adapter. Every dispatch of
// `await saliency(model, images, { target })` gets its own compute pass with a begin and an end timestamp
// (GpuContext.timestampWrites); the GEMM-shaped dispatches label themselves with M, N, K, batch, split count and
// tile while the hook is set (gemmLabel in src/backend/webgpu/gemm.ts), from which each conv layer's TFLOP/s
// follows. Per batch: the GPU time summed over dispatches by kind, the span from the first dispatch's start to the
// last one's end (the gaps in it are the device waiting for the host), and the call's wall time (encoding, the
// waits, the read-back of the maps). A pass per dispatch adds its own small cost: the wall times here are a
// little above the saliency benchmark's, which times the calls as a user makes them.

import { fileURLToPath } from 'node:url';
import { GPU_TILES } from '../src/backend/webgpu/autotune.js';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import type { GpuContext } from '../src/backend/webgpu/context.js';
import { tileConfigs } from '../src/backend/webgpu/gemm.js';
import type { Model } from '../src/models/model.js';
import * as zoo from '../src/models/zoo.js';
import { backend, close, init } from '../src/runtime.js';
import { rng, tensor } from '../src/tensor/create.js';
import { keep, type Tensor } from '../src/tensor/tensor.js';
import { saliency } from '../src/vis/saliency.js';
import { eachFlag, int, list, measuredEnv, parseArgs, rerunCommand } from './cli.js';
import { NO_QUANTIZATION } from './kernel-options.js';
import { cpuModel, logicalCores, sourceRevision } from './machine.js';
import { fmtMs, fmtRate, markdownTable, textTable, updateSection } from './report.js';
import { CallRecorder, median, type Stamp } from './timing.js';

export const USAGE = `usage: npm run bench -- profile [options]

  --size N              VGG16's input size, a multiple of 32 (default 224; 64 on a CPU adapter such as lavapipe)
  --batches LIST        batch sizes (default 1,32; 1 on a CPU adapter)
  --runs N              profiled calls per batch, after at least 2 s of warm-up calls; each dispatch's median is kept (default 5)
  --tiles LIST|gpu      also profile with every GEMM pinned to each of these tiles (tileConfigs in
                        src/backend/webgpu/gemm.ts; gpu: the GPU tiles), and print each conv dispatch's time per tile
                        beside the backend's own choice
  --write / --no-write  update bench/RESULTS.md (default: only with every option at its default)
  --results-file PATH   the markdown file to update instead of bench/RESULTS.md`;

interface Options { size: number | null; batches: number[] | null; runs: number; tiles: string[]; write: boolean | null; resultsFile: string; defaults: boolean }

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { size: null, batches: null, runs: 5, tiles: [], write: null, resultsFile: fileURLToPath(new URL('./RESULTS.md', import.meta.url)), defaults: true };
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--size': {
        const n = int(flag, value(), 32);
        if (n % 32 !== 0) throw new Error(`${flag}: VGG16's input size must be a multiple of 32, got ${n}`);
        o.size = n;
        o.defaults = false;
        break;
      }
      case '--batches': {
        const b = [...new Set(list(value()).map((s) => int(flag, s, 1)))];
        if (b.length === 0) throw new Error(`${flag}: empty list`);
        o.batches = b;
        o.defaults = false;
        break;
      }
      case '--runs': o.runs = int(flag, value(), 1); o.defaults = false; break;
      case '--tiles': {
        const v = value();
        o.tiles = v === 'gpu' ? [...GPU_TILES] : list(v);
        for (const t of o.tiles) if (!tileConfigs[t]) throw new Error(`--tiles: ${JSON.stringify(t)} is not a tile; use ${Object.keys(tileConfigs).join(', ')}`);
        o.defaults = false;
        break;
      }
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '--results-file': o.resultsFile = fileURLToPath(new URL(value(), `file://${process.cwd()}/`)); break;
      default: throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  });
  return o;
}

/**
 * At least 2 calls and 2 s of them: a GPU raises its clock only under sustained load (an H100 stayed at
 * 345-570 MHz through a series of 30 ms calls and reached 1980 MHz about 0.4 s into continuous work).
 */
async function warm(call: () => Promise<void>): Promise<void> {
  await call(); // compiles, and tunes convolutions the first time: the 2 s count from its end
  const start = performance.now();
  for (let i = 0; i < 1 || performance.now() - start < 2000; i++) await call();
}

/** The GEMM fields of a label made by gemmLabel, or null. */
function gemmFields(label: string): { kind: string; taps: number; kernel: string; M: number; N: number; K: number; batch: number; splits: number; tile: string } | null {
  const m = /^(\S+)(?: (\d+)x(\d+))? M=(\d+) N=(\d+) K=(\d+) batch=(\d+) splits=(\d+) tile=(\S+)$/.exec(label);
  if (!m) return null;
  return { kind: m[1], taps: m[2] ? +m[2] * +m[3] : 1, kernel: m[2] ? `${m[2]}x${m[3]} ` : '', M: +m[4], N: +m[5], K: +m[6], batch: +m[7], splits: +m[8], tile: m[9] };
}

/** What a GEMM-shaped dispatch computes, in the terms of a conv layer where it is one. */
function describe(label: string, images: number): { key: string; category: string; flops: number; tile: string } {
  const g = gemmFields(label);
  if (!g) {
    const kind = label.split(' ')[0] || '(unlabelled)';
    if (kind.startsWith('winograd')) return { key: kind, category: 'Winograd transforms', flops: 0, tile: '' };
    if (kind.startsWith('subgroupConv')) return { key: kind, category: 'subgroup conv operands', flops: 0, tile: '' };
    return { key: kind, category: kind.startsWith('finishSplit') || kind.startsWith('splitk') ? 'split-K sums' : 'elementwise, pooling, other', flops: 0, tile: '' };
  }
  const flops = 2 * g.M * g.N * g.K * g.batch;
  const split = g.splits > 1 ? ` split ${g.splits}` : '';
  const px = (n: number) => Math.round(Math.sqrt(n / images));
  switch (g.kind) {
    case 'conv2d':
      return { key: `conv ${g.kernel}${g.K / g.taps}->${g.M} @${px(g.N)}`, category: 'conv forward', flops, tile: g.tile + split };
    case 'conv2dBackwardInput':
      return { key: `conv dX ${g.kernel}${g.M}<-${g.K / g.taps} @${px(g.N)}`, category: 'conv backward-input', flops, tile: g.tile + split };
    case 'conv2dBackwardWeight':
      return { key: `conv dW ${g.kernel}${g.M}x${g.N / g.taps}`, category: 'conv backward-weight', flops, tile: g.tile };
    default: {
      // winograd.ts labels its GEMMs winogradGemm:<m>x<images in the chunk>: N is the chunk's tiles of m x m pixels
      const w = /^winogradGemm:(\d)x(\d+)$/.exec(g.kind);
      if (w) {
        const m = +w[1], pixels = Math.round(Math.sqrt((g.N * m * m) / +w[2]));
        return { key: `Winograd F(${m}x${m}) GEMMs ${g.K}->${g.M} @${pixels}`, category: 'Winograd GEMMs', flops, tile: g.tile + split };
      }
      return { key: `${g.kind} ${g.M}x${g.N}x${g.K}`, category: 'matmul (linear layers)', flops, tile: g.tile + split };
    }
  }
}

interface BatchProfile {
  batch: number;
  wallMs: number;
  spanMs: number;
  gpuMs: number;
  /** each profiled call's dispatch times summed: the spread says how steady the device ran */
  callGpuMs: number[];
  callWallMs: number[];
  dispatches: number;
  rows: { key: string; count: number; ms: number; flops: number; tile: string }[];
  categories: { category: string; ms: number; flops: number }[];
  /** calls without timestamp queries: median wall ms, and median ms from the call to its last dispatch recorded */
  plainWallMs?: number;
  plainRecordedMs?: number;
}

function profileOf(batch: number, runs: { stamps: Stamp[]; wallMs: number }[]): BatchProfile {
  const first = runs[0].stamps;
  for (const r of runs) {
    if (r.stamps.length !== first.length || r.stamps.some((s, i) => s.label !== first[i].label)) {
      throw new Error('bench profile: the calls did not make the same dispatches');
    }
  }
  const dur = first.map((_, i) => median(runs.map((r) => Math.max(0, r.stamps[i].end - r.stamps[i].begin))) / 1e6);
  const rows = new Map<string, { key: string; count: number; ms: number; flops: number; tile: string }>();
  const categories = new Map<string, { category: string; ms: number; flops: number }>();
  first.forEach((s, i) => {
    const d = describe(s.label, batch);
    // (one row per kind and tile: the tuner may run two passes of one shape on different tiles)
    const rowKey = `${d.key}|${d.tile}`;
    const row = rows.get(rowKey) ?? { key: d.key, count: 0, ms: 0, flops: 0, tile: d.tile };
    row.count++;
    row.ms += dur[i];
    row.flops += d.flops;
    rows.set(rowKey, row);
    const c = categories.get(d.category) ?? { category: d.category, ms: 0, flops: 0 };
    c.ms += dur[i];
    c.flops += d.flops;
    categories.set(d.category, c);
  });
  const spans = runs.map((r) => (r.stamps.length ? (Math.max(...r.stamps.map((s) => s.end)) - Math.min(...r.stamps.map((s) => s.begin))) / 1e6 : 0));
  return {
    batch,
    wallMs: median(runs.map((r) => r.wallMs)),
    spanMs: median(spans),
    gpuMs: dur.reduce((a, b) => a + b, 0),
    callGpuMs: runs.map((r) => r.stamps.reduce((a, st) => a + Math.max(0, st.end - st.begin), 0) / 1e6),
    callWallMs: runs.map((r) => r.wallMs),
    dispatches: first.length,
    rows: [...rows.values()],
    categories: [...categories.values()].sort((a, b) => b.ms - a.ms),
  };
}

/** Each conv / matmul dispatch kind's GPU ms under the backend's choice and under each pinned tile. */
function sweepTable(own: BatchProfile, per: Map<string, BatchProfile>): { header: string[]; rows: string[][] } {
  const names = [...per.keys()];
  // GEMM-tiled dispatches only: a GEMV or the narrow backward-input kernel does not take the pinned tile
  const rows = own.rows.filter((r) => r.flops > 0 && !r.key.startsWith('gemv') && !r.tile.startsWith('narrow')).map((r) => {
    const times = names.map((t) => per.get(t)!.rows.find((x) => x.key === r.key)?.ms ?? NaN);
    let best = -1;
    times.forEach((v, i) => { if (Number.isFinite(v) && (best < 0 || v < times[best])) best = i; });
    const bestMs = best >= 0 ? Math.min(times[best], r.ms) : r.ms;
    return [r.key, `${fmtMs(r.ms)} (${r.tile})`, ...times.map(fmtMs), best >= 0 && times[best] < r.ms ? names[best] : 'own', (r.ms / bestMs).toFixed(2)];
  });
  const totals = names.map((t) => per.get(t)!.gpuMs);
  rows.push(['whole call (GPU ms)', fmtMs(own.gpuMs), ...totals.map(fmtMs), '', '']);
  return { header: ['dispatch', 'backend\'s choice ms', ...names.map((t) => `${t} ms`), 'fastest', 'choice / fastest'], rows };
}

const gflops = (flops: number, ms: number) => (flops > 0 ? fmtRate(flops, ms) : '—');

/**
 * The convolution tuner's choices (src/backend/webgpu/autotune.ts): per shape the choice and, where this process
 * timed it, the choice's ms beside the Winograd variants' (F(4x4)'s best chunking or GEMM tile) and the fastest direct tile's
 * (wall time of repeated calls).
 */
function tunerTable(ctx: GpuContext): { header: string[]; rows: string[][] } {
  const header = ['shape', 'choice', 'choice ms', 'F(2x2) ms', 'F(4x4) ms', 'fastest direct'];
  const rows: string[][] = [];
  const best = (t: Record<string, number>, keep: (c: string) => boolean) => Object.entries(t).filter(([c]) => keep(c)).sort((a, b) => a[1] - b[1])[0];
  for (const [key, choice] of [...ctx.convChoices.entries()].sort()) {
    const t = ctx.tuneTimings.get(key);
    const direct = t ? best(t, (c) => c.startsWith('direct:')) : undefined;
    const f4 = t ? best(t, (c) => c.startsWith('winograd4')) : undefined;
    rows.push([key, choice, !t ? '(cached)' : t[choice] === undefined ? '(only candidate)' : fmtMs(t[choice]),
      t?.winograd !== undefined ? fmtMs(t.winograd) : '—',
      f4 ? `${fmtMs(f4[1])}${f4[0] === 'winograd4' ? '' : ` (${f4[0].slice('winograd4'.length)})`}` : '—',
      direct ? `${direct[0].slice('direct:'.length)} ${fmtMs(direct[1])}` : '—']);
  }
  return { header, rows };
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('profile', argv, USAGE, parseOptions);
  if (typeof parsed === 'number') return parsed;
  const o = parsed;
  const started = new Date();
  const command = rerunCommand('profile', argv, measuredEnv());
  const info = await init({ backend: 'webgpu', dawnFlags: [NO_QUANTIZATION] });
  const ctx = (backend() as WebGpuBackend).ctx;
  const profiles: BatchProfile[] = [];
  const sweeps: { batch: number; table: { header: string[]; rows: string[][] } }[] = [];
  let size = 0;
  let tuned: { header: string[]; rows: string[][] } = { header: [], rows: [] };
  try {
    if (!ctx.features.has('timestamp-query')) {
      console.log(`bench profile: ${info.device} offers no timestamp-query; nothing to profile`);
      return 1;
    }
    size = o.size ?? (ctx.isCpuAdapter ? 64 : 224);
    const batches = o.batches ?? (ctx.isCpuAdapter ? [1] : [1, 32]);
    console.log(`adapter:  ${info.device}${ctx.isCpuAdapter ? ' (a CPU adapter)' : ''}`);
    console.log(`profile:  VGG16 at ${size}, batch ${batches.join(', ')}; ${o.runs} profiled calls after at least 2 s of warm-up calls; a compute pass per dispatch`);
    const m: Model = zoo.vgg16({ seed: 0, inputSize: size });
    const recorder = new CallRecorder(ctx);
    try {
      for (const n of batches) {
        const per = 3 * size * size;
        const data = new Float32Array(n * per);
        for (let i = 0; i < n; i++) {
          const next = rng(1000 + i);
          for (let j = 0; j < per; j++) data[i * per + j] = 255 * next();
        }
        const x: Tensor = keep(tensor(data, [n, 3, size, size]));
        const target = Array.from({ length: n }, (_, i) => i % m.outputShape[1]);
        const call = async () => { await saliency(m, x, { target }); };
        await warm(call);
        const runs = [];
        for (let i = 0; i < o.runs; i++) runs.push(await recorder.record(call));
        const p = profileOf(n, runs);
        // the same calls without timestamps: their wall time, and when the host had recorded the last dispatch
        const plain: { wall: number; recorded: number }[] = [];
        for (let i = 0; i < o.runs; i++) {
          await ctx.sync();
          const t0 = performance.now();
          await call();
          plain.push({ wall: performance.now() - t0, recorded: ctx.lastDispatchAt - t0 });
        }
        p.plainWallMs = median(plain.map((r) => r.wall));
        p.plainRecordedMs = median(plain.map((r) => r.recorded));
        profiles.push(p);
        if (o.tiles.length > 0) {
          const own = p;
          const per = new Map<string, BatchProfile>();
          for (const name of o.tiles) {
            ctx.tileOverride = tileConfigs[name];
            const algorithm = ctx.convAlgorithm;
            ctx.convAlgorithm = 'direct';
            try {
              await warm(call);
              const rs = [];
              for (let i = 0; i < Math.min(o.runs, 3); i++) rs.push(await recorder.record(call));
              per.set(name, profileOf(n, rs));
            } catch (e) {
              console.log(`tile ${name}: failed: ${(e as Error).message.split('\n')[0]}`);
            } finally {
              ctx.tileOverride = null;
              ctx.convAlgorithm = algorithm;
            }
          }
          sweeps.push({ batch: n, table: sweepTable(own, per) });
        }
        x.dispose();
        console.log(`\nbatch ${n}: wall ${fmtMs(p.wallMs)} ms per call (${fmtMs(p.wallMs / n)} per image); GPU span ${fmtMs(p.spanMs)} ms; ` +
          `dispatches ${p.dispatches}, their GPU time summed ${fmtMs(p.gpuMs)} ms`);
        console.log(`per call: GPU ${p.callGpuMs.map(fmtMs).join(', ')} ms; wall ${p.callWallMs.map(fmtMs).join(', ')} ms`);
        console.log(`plain calls (no timestamps): wall ${fmtMs(p.plainWallMs!)} ms, the last dispatch recorded at ${fmtMs(p.plainRecordedMs!)} ms`);
        console.log(textTable(['kind', 'GPU ms', 'share', 'GFLOP/s'], p.categories.map((c) =>
          [c.category, fmtMs(c.ms), `${((100 * c.ms) / p.gpuMs).toFixed(0)}%`, gflops(c.flops, c.ms)])));
        console.log(textTable(['dispatch', 'count', 'GPU ms', 'GFLOP/s', 'tile'], p.rows.map((r) =>
          [r.key, String(r.count), fmtMs(r.ms), gflops(r.flops, r.ms), r.tile])));
        const sw = sweeps.find((x) => x.batch === n);
        if (sw) console.log(`\ntile sweep, batch ${n}:\n${textTable(sw.table.header, sw.table.rows)}`);
      }
    } finally {
      recorder.destroy();
      m.releaseWeights();
    }
    tuned = tunerTable(ctx);
    if (tuned.rows.length) console.log(`\nautotuner (${ctx.autotune ? 'on' : 'off'}; choices by shape):\n${textTable(tuned.header, tuned.rows)}`);
  } finally {
    await close();
  }

  const write = o.write ?? o.defaults;
  if (!write) {
    console.log('\nbench/RESULTS.md not updated (not a default run; --write records it anyway)');
    return 0;
  }
  const heading = `## profile — VGG16 saliency at ${size} — ${info.device} — ${cpuModel()}`;
  const body: string[] = [
    `- date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    `- command: \`${command}\``,
    `- source: ${sourceRevision()}`,
    `- cpu: ${cpuModel()}, ${logicalCores()} logical cores`,
    `- what: \`await saliency(vgg16, images, { target })\`, ${o.runs} calls profiled after at least 2 s of warm-up calls, each dispatch in its own ` +
      'compute pass between two timestamp queries (Dawn\'s timestamp quantization off), each dispatch\'s median over the calls; GPU span = first start to last end; ' +
      'wall = the call, encoding and read-back of the maps included',
  ];
  for (const p of profiles) {
    body.push('', `### batch ${p.batch}: wall ${fmtMs(p.wallMs)} ms per call (${fmtMs(p.wallMs / p.batch)} ms per image), GPU span ` +
      `${fmtMs(p.spanMs)} ms, ${p.dispatches} dispatches summing to ${fmtMs(p.gpuMs)} ms`, '',
      `each call's GPU sum: ${p.callGpuMs.map(fmtMs).join(', ')} ms; wall: ${p.callWallMs.map(fmtMs).join(', ')} ms`, '',
      `the same calls without timestamp queries (median of ${o.runs}): wall ${fmtMs(p.plainWallMs!)} ms, the host had recorded the last dispatch ${fmtMs(p.plainRecordedMs!)} ms into the call`, '');
    body.push(markdownTable(['kind', 'GPU ms', 'share', 'GFLOP/s'], p.categories.map((c) =>
      [c.category, fmtMs(c.ms), `${((100 * c.ms) / p.gpuMs).toFixed(0)}%`, gflops(c.flops, c.ms)])));
    body.push('', markdownTable(['dispatch', 'count', 'GPU ms', 'GFLOP/s', 'tile'], p.rows.map((r) =>
      [r.key, String(r.count), fmtMs(r.ms), gflops(r.flops, r.ms), r.tile])));
  }
  if (tuned.rows.length) {
    body.push('', `### autotuner: ${ctx.autotune ? 'on' : 'off'}, ${tuned.rows.length} convolution shapes`, '',
      'each shape\'s choice; where this run tuned it, the best wall ms of repeated calls of the choice, of Winograd F(2x2, 3x3), of F(4x4, 3x3) (its best variant: @MiB, its chunk cap where smaller chunks won; :tile, its GEMM\'s tile where the tile pickTile does not choose won) and of the fastest direct tile', '',
      markdownTable(tuned.header, tuned.rows));
  }
  for (const sw of sweeps) body.push('', `### tile sweep, batch ${sw.batch} (every GEMM pinned to one tile; conv dispatch kinds' GPU ms summed)`, '', markdownTable(sw.table.header, sw.table.rows));
  updateSection(o.resultsFile, heading, body.join('\n'));
  console.log(`\nwrote the section "${heading.slice(3)}" of ${o.resultsFile}`);
  return 0;
}

// `npm run bench -- models`: whole networks (models.vgg16 and models.alexnet, seeded random weights) at 224x224,
// forward and "saliency" (forward, read the logits, then the gradient of each image's top class score w.r.t. the
// input, read back: the work of one saliency map per image), on convis's webgpu and cpu backends, beside
// onnxruntime-node's CPU forward of the same model exported with encodeOnnx. Wall time per call. See README.md.

import { unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import { layerOutputShape } from '../src/models/layers.js';
import type { Model } from '../src/models/model.js';
import * as zoo from '../src/models/zoo.js';
import * as ops from '../src/ops/index.js';
import { backend, close, init } from '../src/runtime.js';
import { rng, tensor } from '../src/tensor/create.js';
import { keep, type Tensor, tidy } from '../src/tensor/tensor.js';
import { cpuModel, describeLoad, loadAverage, LoadProbe, logicalCores, sourceRevision } from './machine.js';
import { fmtMs, fmtRate, fmtRatio, markdownTable, textTable, updateSection } from './report.js';
import { attempt, describeTiming, relErr, type Timing, timeCalls } from './timing.js';
import { eachFlag, int, list, measuredEnv, oneOf, parseArgs, rerunCommand, seconds } from './cli.js';

type BackendName = 'webgpu' | 'cpu';
type ModelName = 'vgg16' | 'alexnet' | 'simonyan2013';
const MODEL_NAMES: readonly ModelName[] = ['vgg16', 'alexnet', 'simonyan2013'];
const DEFAULT_MODELS: readonly ModelName[] = ['vgg16', 'alexnet'];
const DEFAULT_BATCHES = [1, 32];
const DEFAULT_BUDGET_S = 10;

export const USAGE = `usage: npm run bench -- models [options]

  --models LIST         any of ${MODEL_NAMES.join(', ')} (default ${DEFAULT_MODELS.join(',')})
  --backends LIST       convis backends: webgpu, cpu (default both)
  --batches LIST        batch sizes (default ${DEFAULT_BATCHES.join(',')}; on a CPU WebGPU adapter such as lavapipe the
                        default runs webgpu at batch 1 only: VGG16 at 32 is ~1 TFLOP a forward, many minutes a call)
  --no-ort              leave out onnxruntime-node
  --quick               3 timed runs after 1 warm-up (default: up to 10 after 1)
  --runs N, --warmup N  timed runs (median reported) and untimed warm-up runs per case
  --budget S            stop a case's timed runs once they took S seconds, after at least one (default ${DEFAULT_BUDGET_S};
                        0: always --runs)
  --write / --no-write  update bench/RESULTS.md (default: only for a full run with default options)
  --results-file PATH   the markdown file to update instead of bench/RESULTS.md`;

interface Options {
  models: ModelName[];
  backends: BackendName[];
  batches: number[] | null;
  ort: boolean;
  runs: number;
  warmup: number;
  budgetS: number;
  write: boolean | null;
  resultsFile: string;
  /** true when every option that changes what is measured has its default */
  defaults: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    models: [...DEFAULT_MODELS], backends: ['webgpu', 'cpu'], batches: null, ort: true, runs: 10, warmup: 1,
    budgetS: DEFAULT_BUDGET_S, write: null, resultsFile: fileURLToPath(new URL('./RESULTS.md', import.meta.url)), defaults: true,
  };
  let quick = false, runsGiven = false, warmupGiven = false;
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--models': o.models = oneOf(flag, value(), MODEL_NAMES); o.defaults = false; break;
      case '--backends': o.backends = oneOf(flag, value(), ['webgpu', 'cpu'] as const); o.defaults = false; break;
      case '--batches': o.batches = [...new Set(list(value()).map((s) => int(flag, s, 1)))]; o.defaults = false; break;
      case '--no-ort': o.ort = false; o.defaults = false; break;
      case '--quick': quick = true; o.defaults = false; break;
      case '--runs': case '--reps': o.runs = int(flag, value(), 1); runsGiven = true; break;
      case '--warmup': o.warmup = int(flag, value(), 0); warmupGiven = true; break;
      case '--budget': o.budgetS = seconds(flag, value()); if (o.budgetS !== DEFAULT_BUDGET_S) o.defaults = false; break;
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '--results-file': o.resultsFile = resolve(value()); break;
      default: throw new Error(`unknown option ${JSON.stringify(arg)}`);
    }
  });
  if (o.batches?.length === 0) throw new Error('--batches: empty list');
  if (quick) {
    if (!runsGiven) o.runs = 3;
    if (!warmupGiven) o.warmup = 1;
  }
  if (o.runs < 10 || o.warmup < 1) o.defaults = false;
  return o;
}

// ------------------------------------------------------------------ what is timed

/** The batch as host data: image i is drawn from its own seed, so image 0 is the same in every batch. */
function images(batch: number): Float32Array {
  const per = 3 * 224 * 224;
  const out = new Float32Array(batch * per);
  for (let i = 0; i < batch; i++) {
    const next = rng(1000 + i);
    for (let j = 0; j < per; j++) out[i * per + j] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

/** 2 x the multiply-adds of the conv and linear layers for one image (pooling, ReLU and LRN are left out). */
function forwardFlops(m: Model): number {
  const shapes = new Map<string, number[]>([[m.input, [1, ...m.inputShape]]]);
  let flops = 0;
  for (const l of m.layers) {
    const y = layerOutputShape(l, l.inputs.map((v) => shapes.get(v)!));
    shapes.set(l.output, y);
    const w = l.params.w?.shape;
    if (l.kind === 'conv') flops += 2 * y[1] * y[2] * y[3] * w[1] * w[2] * w[3];
    if (l.kind === 'linear') flops += 2 * w[0] * w[1];
  }
  return flops;
}

/** forward, logits read back */
async function forwardCall(m: Model, x: Tensor, keepLogits: (v: Float32Array) => void): Promise<void> {
  const y = m.forward(x);
  try {
    keepLogits(await y.data());
  } finally {
    y.dispose();
  }
}

/**
 * A saliency map's work for every image of the batch: forward (x requires grad), read the logits, pick each
 * image's top class, backward of the sum of those scores (logits times a one-hot mask, summed), read dS/dx back.
 * Images do not interact, so the gradient of the sum is each image's own dS_c/dI.
 */
async function saliencyCall(m: Model, x: Tensor): Promise<void> {
  const y = m.forward(x);
  let s: Tensor | null = null;
  try {
    const v = await y.data();
    const [n, k] = y.shape;
    const mask = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (v[i * k + c] > v[i * k + best]) best = c;
      mask[i * k + best] = 1;
    }
    s = tidy(() => ops.sum(ops.mul(y, tensor(mask, [n, k]))));
    s.backward();
    const g = x.grad;
    x.grad = null;
    if (!g) throw new Error('saliency: no gradient reached the input');
    try {
      await g.data();
    } finally {
      g.dispose();
    }
  } finally {
    s?.dispose();
    y.dispose();
  }
}

// ------------------------------------------------------------------ the runs

interface Row {
  model: ModelName;
  batch: number;
  runtime: string;
  forward: Timing | Error | null;
  saliency: Timing | Error | null;
  /** relative error of image 0's logits against onnxruntime's */
  vsOrt: number | null;
  skipped?: string;
}

export async function main(argv: readonly string[]): Promise<number> {
  const o = parseArgs('models', argv, USAGE, parseOptions);
  if (typeof o === 'number') return o;
  const env = measuredEnv();
  const command = rerunCommand('models', argv, env);
  const load = new LoadProbe();
  load.start();
  const started = new Date();
  const source = sourceRevision(['src', 'kernels', 'native', 'binding.gyp']);
  const cpu = cpuModel();
  console.log(`cpu:      ${cpu} (${logicalCores()} logical cores)`);
  console.log(`source:   ${source}`);
  console.log(`runs:     median of up to ${o.runs} after ${o.warmup} warm-up, a case stops after ${o.budgetS || '∞'} s of timed runs; ` +
    `wall time to the read-back; load average ${loadAverage()}`);
  if (process.env.CONVIS_GEMM_TILE) console.log(`note:     CONVIS_GEMM_TILE=${process.env.CONVIS_GEMM_TILE} pins the webgpu GEMM tile`);

  const built = new Map<ModelName, { model: Model; gflop: number }>();
  const model = (name: ModelName) => {
    let b = built.get(name);
    if (!b) {
      const t0 = performance.now();
      const m = zoo[name]({ seed: 0 });
      b = { model: m, gflop: forwardFlops(m) / 1e9 };
      console.log(`\n${name}: ${zoo.parameterCount(m).toLocaleString('en-US')} parameters, ${b.gflop.toFixed(2)} GFLOP per image forward; ` +
        `weights drawn in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      built.set(name, b);
    }
    return b.model;
  };
  const rows: Row[] = [];
  const logits = new Map<string, Float32Array>();   // `${runtime} ${model} ${batch}`: image 0's logits
  const notes: string[] = [];
  let adapter: string | null = null;
  const runtimeNames: string[] = [];

  for (const name of o.backends) {
    let info;
    try {
      info = await init({ backend: name });
    } catch (e) {
      console.log(`\n${name}: not available (${(e as Error).message.split('\n')[0]})`);
      for (const m of o.models) rows.push({ model: m, batch: 0, runtime: name, forward: e as Error, saliency: null, vsOrt: null });
      continue;
    }
    const b = backend();
    const cpuAdapter = name === 'webgpu' && (b as WebGpuBackend).ctx.isCpuAdapter;
    const label = name === 'cpu' ? `cpu (${b.limits.threads} threads)` : 'webgpu';
    const what = name === 'cpu' ? `convis native cpu backend, ${info.device}` : `convis webgpu backend, ${info.device}${cpuAdapter ? ' (a CPU adapter)' : ''}`;
    runtimeNames.push(`${label}: ${what}`);
    if (name === 'webgpu') adapter = info.device;
    console.log(`\n${label}: ${what}`);
    let batches = o.batches ?? DEFAULT_BATCHES;
    if (cpuAdapter && o.batches === null) {
      const skipped = batches.filter((n) => n > 1);
      batches = batches.filter((n) => n === 1);
      if (skipped.length) {
        const why = `webgpu on a CPU adapter: batch ${skipped.join(', ')} skipped by default (lavapipe runs VGG16 at a few GFLOP/s, ` +
          `~1 TFLOP a batch-32 forward); --batches ${DEFAULT_BATCHES.join(',')} runs it`;
        console.log(`  ${why}`);
        notes.push(why);
        for (const m of o.models) for (const n of skipped) rows.push({ model: m, batch: n, runtime: label, forward: null, saliency: null, vsOrt: null, skipped: 'skipped (CPU adapter)' });
      }
    }
    try {
      for (const mName of o.models) {
        const m = model(mName);
        for (const n of batches) {
          const x = keep(tensor(images(n), [n, 3, 224, 224]));
          const forward = await attempt(() => timeCalls(() => forwardCall(m, x, (v) => logits.set(`${label} ${mName} ${n}`, v.slice(0, 1000))), o));
          console.log(`  ${mName} batch ${n} forward  ${describeTiming(forward)}`);
          x.requiresGrad = true;
          // the weights are on the device by now: a saliency call that leaves nothing behind keeps this count
          const before = b.memory().liveStorages;
          const saliency = await attempt(() => timeCalls(() => saliencyCall(m, x), o));
          console.log(`  ${mName} batch ${n} saliency ${describeTiming(saliency)}`);
          const leaked = b.memory().liveStorages - before;
          if (leaked !== 0 && !(saliency instanceof Error)) console.log(`  warning: the saliency calls left ${leaked} storage(s) alive`);
          x.dispose();
          rows.push({ model: mName, batch: n, runtime: label, forward, saliency, vsOrt: null });
        }
        m.releaseWeights();
      }
    } finally {
      await close();
    }
  }

  // onnxruntime-node's CPU forward of the same models, exported by convis
  let ortVersion: string | null = null;
  let ortSkipped: string | null = o.ort ? null : '--no-ort';
  // as many threads as the cpu backend's pool: one per logical core unless CONVIS_THREADS says otherwise
  const ortThreads = Number(process.env.CONVIS_THREADS) > 0 ? Math.floor(Number(process.env.CONVIS_THREADS)) : logicalCores();
  if (o.ort) {
    let encodeOnnx: ((m: Model) => Uint8Array) | null = null;
    let ort: typeof import('onnxruntime-node') | null = null;
    try {
      encodeOnnx = (await import('../src/models/onnx/export.js')).encodeOnnx;
    } catch (e) {
      ortSkipped = `encodeOnnx unavailable (src/models/onnx/export.ts: ${(e as Error).message.split('\n')[0]})`;
    }
    try {
      ort = await import('onnxruntime-node');
      ortVersion = ort.env.versions?.node ?? 'unknown';
    } catch (e) {
      ortSkipped ??= `onnxruntime-node does not load (${(e as Error).message.split('\n')[0]})`;
    }
    if (ortSkipped) console.log(`\nonnxruntime-node: skipped: ${ortSkipped}`);
    if (encodeOnnx && ort && !ortSkipped) {
      const label = `onnxruntime-node ${ortVersion} cpu`;
      runtimeNames.push(`${label}: CPUExecutionProvider, graph optimisation 'all', ${ortThreads} intra-op threads (as the cpu backend's pool)`);
      console.log(`\n${label} (CPUExecutionProvider, graphOptimizationLevel 'all', ${ortThreads} intra-op threads):`);
      for (const mName of o.models) {
        const m = model(mName);
        const path = join(tmpdir(), `convis-bench-${mName}-${process.pid}.onnx`);
        let session: import('onnxruntime-node').InferenceSession | null = null;
        try {
          const t0 = performance.now();
          writeFileSync(path, encodeOnnx(m));
          session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: ortThreads });
          console.log(`  ${mName}: exported and loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          const s = session;
          for (const n of o.batches ?? DEFAULT_BATCHES) {
            const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', images(n), [n, 3, 224, 224]) };
            const forward = await attempt(() => timeCalls(async () => {
              const out = (await s.run(feeds))[s.outputNames[0]];
              logits.set(`ort ${mName} ${n}`, (out.data as Float32Array).slice(0, 1000));
            }, o));
            console.log(`  ${mName} batch ${n} forward  ${describeTiming(forward)}`);
            rows.push({ model: mName, batch: n, runtime: label, forward, saliency: null, vsOrt: null });
          }
        } catch (e) {
          console.log(`  ${mName}: failed: ${(e as Error).message}`);
          rows.push({ model: mName, batch: 0, runtime: label, forward: e as Error, saliency: null, vsOrt: null });
        } finally {
          await session?.release();
          try { unlinkSync(path); } catch { /* not written */ }
        }
      }
    }
  }
  const otherCores = load.stop();

  // image 0's logits against onnxruntime's: the same model and input, so they agree to float32 rounding
  let mismatches = 0;
  for (const r of rows) {
    const mine = logits.get(`${r.runtime} ${r.model} ${r.batch}`), theirs = logits.get(`ort ${r.model} ${r.batch}`);
    if (mine && theirs && !r.runtime.startsWith('onnxruntime')) {
      r.vsOrt = relErr(mine, theirs);
      if (!(r.vsOrt < 1e-3)) mismatches++;
    }
  }

  const ortMs = (r: Row) => {
    const o2 = rows.find((x) => x.runtime.startsWith('onnxruntime') && x.model === r.model && x.batch === r.batch);
    return o2?.forward && !(o2.forward instanceof Error) ? o2.forward.ms : null;
  };
  const ok = (t: Timing | Error | null) => (t && !(t instanceof Error) ? t : null);
  const ips = (n: number, t: Timing | null) => (t ? (n * 1000 / t.ms).toFixed(n * 1000 / t.ms >= 100 ? 0 : n * 1000 / t.ms >= 10 ? 1 : 2) : '—');
  const header = ['model', 'batch', 'runtime', 'forward ms', 'fwd img/s', 'fwd GFLOP/s', 'saliency ms', 'sal img/s', 'sal/fwd',
    'ORT fwd / this fwd', 'first fwd/sal ms', 'runs fwd/sal', 'logits vs ORT'];
  const sorted = [...rows].sort((a, b) => o.models.indexOf(a.model) - o.models.indexOf(b.model) || a.batch - b.batch);
  const table = sorted.map((r) => {
    const f = ok(r.forward), s = ok(r.saliency);
    const state = (t: Timing | Error | null) => (r.skipped ?? (t instanceof Error ? 'failed' : '—'));
    return [
      r.model, r.batch ? String(r.batch) : '—', r.runtime, f ? fmtMs(f.ms) : state(r.forward), ips(r.batch, f),
      fmtRate(r.batch * (built.get(r.model)?.gflop ?? 0) * 1e9, f?.ms), s ? fmtMs(s.ms) : r.runtime.startsWith('onnxruntime') ? 'n/a' : state(r.saliency),
      ips(r.batch, s), fmtRatio(s?.ms, f?.ms), fmtRatio(ortMs(r), f?.ms), `${fmtMs(f?.firstMs)}/${fmtMs(s?.firstMs)}`,
      `${f?.runs ?? '—'}/${s?.runs ?? '—'}`,
      r.vsOrt === null ? '—' : r.vsOrt.toExponential(1),
    ];
  });
  console.log(`\n${textTable(header, table)}`);
  const legend = 'ms per batch (median, wall time to the read-back); saliency = forward + read logits + backward of the top ' +
    'class score of each image + read dS/dI; GFLOP/s counts 2 x the multiply-adds of conv and linear layers; ' +
    'ORT fwd / this fwd > 1: convis is faster; first: the first (warm-up) call, with the weight upload and, on webgpu, the ' +
    'pipeline compiles; logits vs ORT: relative error of image 0\'s logits against onnxruntime\'s on the same input.';
  console.log(legend);
  for (const n of notes) console.log(n);
  const loadReport = describeLoad(otherCores, command);
  console.log(loadReport.note);
  if (mismatches) console.log(`${mismatches} row(s) disagree with onnxruntime's logits (relative error >= 1e-3)`);

  const failures = rows.filter((r) => r.forward instanceof Error || r.saliency instanceof Error).length + mismatches;
  const write = o.write ?? (o.defaults && failures === 0 && ortSkipped === null);
  if (write) {
    const heading = `## models — ${adapter ?? 'no webgpu adapter'} — ${cpu}`;
    const body = [
      `- date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `- command: \`${command}\``,
      `- source: ${source}`,
      ...runtimeNames.map((r) => `- runtime: ${r}`),
      `- cpu: ${cpu}, ${logicalCores()} logical cores`,
      `- models: ${o.models.map((m) => `${m} (${zoo.parameterCount(built.get(m)!.model).toLocaleString('en-US')} parameters, ` +
        `${built.get(m)!.gflop.toFixed(2)} GFLOP/image)`).join(', ')}; seeded random weights, 224x224, fp32, random normal input`,
      `- runs: median of up to ${o.runs} after ${o.warmup} warm-up per case, stopping once the timed runs took ${o.budgetS || '∞'} s; ` +
        'wall time from the call to the read-back',
      ...(ortSkipped ? [`- onnxruntime-node: not run (${ortSkipped})`] : []),
      `- load: ${loadReport.line}`,
      '',
      markdownTable(header, table),
      '',
      legend,
      ...notes.map((n) => `${n}.`),
    ].join('\n');
    updateSection(o.resultsFile, heading, body);
    console.log(`\nwrote the section "${heading.slice(3)}" of ${o.resultsFile}`);
  } else {
    const why = o.write === false ? '--no-write' : failures > 0 ? 'some cases failed' : ortSkipped ? 'onnxruntime was not run'
      : 'not a full default run';
    console.log(`\nbench/RESULTS.md not updated (${why}; --write records it anyway)`);
  }
  return failures > 0 ? 1 : 0;
}

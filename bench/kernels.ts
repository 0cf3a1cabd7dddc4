// `npm run bench -- kernels`: fp32 matmul and VGG16's conv2d forward / backward-input through convis's
// WebGPU backend (called directly on preallocated operands: no tensors, no tape), then the same problems
// through TF.js's WebGPU backend in a child process on the same adapter, as one table. See bench/README.md.

import { spawn } from 'node:child_process';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Conv2dParams, Operand } from '../src/backend/interface.js';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import { type TileConfig, tileConfigs, tileKey } from '../src/backend/webgpu/gemm.js';
import { pickTile } from '../src/backend/webgpu/matmul.js';
import { backend, close, init } from '../src/runtime.js';
import { type BenchCase, type CaseKind, checkShapeTokens, convCase, matmulCase, randomData, shapeMatches, vggShapes } from './cases.js';
import { cpuModel, loadAverage, LoadProbe, logicalCores } from './machine.js';
import { type PeerJob, type PeerResult, type PeerRow, RESULT_TAG } from './peer-protocol.js';
import { fmtMs, fmtRate, fmtRatio, markdownTable, textTable, updateSection } from './report.js';
import { DispatchTimer, type Measurement, measure } from './timing.js';

/** Dawn rounds timestamps to 2^16 ns unless this toggle is off; dawn.node takes toggles as create() flags. */
const NO_QUANTIZATION = 'disable-dawn-features=timestamp_quantization';
const ALL_KINDS: readonly CaseKind[] = ['matmul', 'conv2d', 'conv2dBackwardInput'];

const USAGE = `usage: npm run bench -- kernels [options]

  --quick               3 timed runs after 1 warm-up (default: 10 after 2)
  --runs N, --warmup N  timed runs (median reported) and untimed warm-up runs
  --sizes 1024,4096     matmul sizes (default 1024, plus 4096 on a non-CPU adapter); 'none' skips matmul
  --shapes 128,@56,...  VGG16 conv shapes: input channels (128), spatial size (@56) or C->O@S; 'none' skips
  --ops LIST            any of matmul, conv2d (fwd), conv2dBackwardInput (bwd); default all
  --tile NAME           force convis's GEMM tile: ${Object.keys(tileConfigs).join(' | ')}
  --timing wall         wall time even where timestamp queries work (default: auto)
  --no-tfjs             convis only
  --tfjs-flag K=V       set a TF.js env flag in the peer, e.g. WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE=false
  --dawn-flag F         extra Dawn flag for both sides (${NO_QUANTIZATION} is always passed)
  --write / --no-write  update bench/RESULTS.md (default: only for a full run with default options)
  --results-file PATH   the markdown file to update instead of bench/RESULTS.md`;

interface Options {
  quick: boolean;
  runs: number;
  warmup: number;
  sizes: number[] | null;
  shapes: string[] | null;
  ops: Set<CaseKind>;
  tile: string | null;
  /** 'wall' skips timestamp queries on both sides */
  timing: 'auto' | 'wall';
  tfjs: boolean;
  tfjsFlags: Record<string, number | boolean | string>;
  dawnFlags: string[];
  write: boolean | null;
  resultsFile: string;
  /** true when every option that changes what is measured has its default */
  defaults: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    quick: false, runs: 10, warmup: 2, sizes: null, shapes: null, ops: new Set(ALL_KINDS), tile: null, timing: 'auto',
    tfjs: true, tfjsFlags: {}, dawnFlags: [NO_QUANTIZATION], write: null,
    resultsFile: fileURLToPath(new URL('./RESULTS.md', import.meta.url)), defaults: true,
  };
  let runsGiven = false, warmupGiven = false;
  const list = (v: string) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    // --name=value or --name value; only the first '=' splits, so --tfjs-flag=K=V keeps K=V
    const eq = argv[i].startsWith('--') ? argv[i].indexOf('=') : -1;
    const flag = eq > 0 ? argv[i].slice(0, eq) : argv[i];
    const inline = eq > 0 ? argv[i].slice(eq + 1) : undefined;
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick': o.quick = true; o.defaults = false; break;
      case '--runs': case '--reps': o.runs = int(flag, value(), 1); runsGiven = true; break;
      case '--warmup': o.warmup = int(flag, value(), 0); warmupGiven = true; break;
      case '--sizes': {
        const v = value();
        o.sizes = v === 'none' ? [] : list(v).map((s) => int('--sizes', s, 1));
        o.defaults = false;
        break;
      }
      case '--shapes': {
        const tokens = list(value());
        checkShapeTokens(tokens);
        o.shapes = tokens;
        o.defaults = false;
        break;
      }
      case '--ops': {
        const alias: Record<string, CaseKind> = {
          matmul: 'matmul', conv2d: 'conv2d', fwd: 'conv2d', conv2dBackwardInput: 'conv2dBackwardInput', bwd: 'conv2dBackwardInput',
        };
        o.ops = new Set(list(value()).map((s) => {
          if (!(s in alias)) throw new Error(`--ops: unknown op ${JSON.stringify(s)}; use ${Object.keys(alias).join(', ')}`);
          return alias[s];
        }));
        o.defaults = false;
        break;
      }
      case '--tile': {
        const v = value();
        if (!(v in tileConfigs)) throw new Error(`--tile: expected ${Object.keys(tileConfigs).join(' | ')}, got ${JSON.stringify(v)}`);
        o.tile = v;
        o.defaults = false;
        break;
      }
      case '--timing': {
        const v = value();
        if (v !== 'auto' && v !== 'wall') throw new Error(`--timing: expected auto | wall, got ${JSON.stringify(v)}`);
        o.timing = v;
        if (v !== 'auto') o.defaults = false;
        break;
      }
      case '--no-tfjs': o.tfjs = false; o.defaults = false; break;
      case '--tfjs-flag': {
        const v = value();
        const eq = v.indexOf('=');
        if (eq < 1) throw new Error(`--tfjs-flag: expected NAME=VALUE, got ${JSON.stringify(v)}`);
        const raw = v.slice(eq + 1);
        o.tfjsFlags[v.slice(0, eq)] = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : raw;
        o.defaults = false;
        break;
      }
      case '--dawn-flag': o.dawnFlags.push(value()); o.defaults = false; break;
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '--results-file': o.resultsFile = resolve(value()); break;
      default: throw new Error(`unknown option ${JSON.stringify(argv[i])}`);
    }
  }
  if (o.quick) {
    if (!runsGiven) o.runs = 3;
    if (!warmupGiven) o.warmup = 1;
  }
  if (o.runs < 10 || o.warmup < 1) o.defaults = false;
  return o;
}

function buildCases(o: Options, cpuAdapter: boolean): BenchCase[] {
  const cases: BenchCase[] = [];
  if (o.ops.has('matmul')) for (const n of o.sizes ?? (cpuAdapter ? [1024] : [1024, 4096])) cases.push(matmulCase(n));
  for (const s of vggShapes) {
    if (!shapeMatches(o.shapes, s)) continue;
    if (o.ops.has('conv2d')) cases.push(convCase('conv2d', s.C, s.O, s.S));
    if (o.ops.has('conv2dBackwardInput')) cases.push(convCase('conv2dBackwardInput', s.C, s.O, s.S));
  }
  return cases;
}

const SAME_3X3: Conv2dParams = {
  strideH: 1, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilationH: 1, dilationW: 1, groups: 1,
};

interface Prepared { run: () => void; tile: TileConfig; release: () => void }

/** Allocates and fills the case's operands on the backend and returns the bare kernel call. */
function prepare(b: WebGpuBackend, c: BenchCase): Prepared {
  const storages: ReturnType<WebGpuBackend['alloc']>[] = [];
  let seed = 1;
  const operand = (shape: number[], fill: boolean): Operand => {
    const size = shape.reduce((a, d) => a * d, 1);
    const storage = b.alloc(size);
    storages.push(storage);
    if (fill) b.upload(storage, 0, randomData(size, seed++));
    return { storage, offset: 0, shape, size };
  };
  const release = () => { for (const s of storages) b.release(s); };
  try {
    if (c.kind === 'matmul') {
      const { M, N, K } = c.matmul!;
      const a = operand([M, K], true), w = operand([K, N], true), y = operand([M, N], false);
      const opts = { transA: false, transB: false, accumulate: false };
      return { run: () => b.matmul(a, w, y, opts), tile: pickTile(b.ctx, M, N), release };
    }
    const { N, C, O, H, W, KH, KW } = c.conv!;
    const w = operand([O, C, KH, KW], true);
    if (c.kind === 'conv2d') {
      const x = operand([N, C, H, W], true), y = operand([N, O, H, W], false);
      return { run: () => b.conv2d(x, w, null, SAME_3X3, y), tile: pickTile(b.ctx, O, N * H * W), release };
    }
    const gy = operand([N, O, H, W], true), dx = operand([N, C, H, W], false);
    return { run: () => b.conv2dBackwardInput(gy, w, SAME_3X3, dx), tile: pickTile(b.ctx, C, N * H * W), release };
  } catch (e) {
    release();
    throw e;
  }
}

function tileName(t: TileConfig): string {
  const key = tileKey(t);
  const named = Object.entries(tileConfigs).find(([, v]) => tileKey(v) === key);
  return named ? `${named[0]} ${key}` : key;
}

interface ConvisRow { m: Measurement; tile: string }

async function runConvis(o: Options, cases: BenchCase[], b: WebGpuBackend): Promise<Map<string, ConvisRow | Error>> {
  const out = new Map<string, ConvisRow | Error>();
  const timer = new DispatchTimer(b.ctx);
  try {
    for (const c of cases) {
      let p: Prepared | null = null;
      try {
        p = prepare(b, c);
        const m = await measure(timer, p.run, o.warmup, o.runs, o.timing === 'auto');
        // a dispatch label that names its tile (e.g. "conv2d 32x64x16r12") beats the mirrored selection rule
        const labelled = timer.labels.map((l) => /\d+x\d+x\d+r\d+/.exec(l)?.[0]).find((k) => k !== undefined);
        const tile = labelled ?? tileName(p.tile);
        out.set(c.id, { m, tile });
        console.log(`  ${c.label.padEnd(26)} ${fmtMs(m.ms).padStart(8)} ms  ${fmtRate(c.flops, m.ms).padStart(7)} GFLOP/s` +
          `  (${m.method}, wall ${fmtMs(m.wallMs)} ms, ${m.dispatches} dispatch(es), tile ${tile}${m.note ? `; ${m.note}` : ''})`);
      } catch (e) {
        out.set(c.id, e as Error);
        console.log(`  ${c.label.padEnd(26)} failed: ${(e as Error).message}`);
      } finally {
        p?.release();
      }
    }
  } finally {
    timer.destroy();
  }
  return out;
}

/**
 * Runs bench/tfjs-peer.ts in a child process and returns its result (null when it failed). The child is this
 * Node with this process's own loader flags (tsx's), so it runs the peer however this file itself was run.
 */
async function runTfjs(job: PeerJob): Promise<PeerResult | null> {
  const self = fileURLToPath(import.meta.url);
  const peer = join(dirname(self), `tfjs-peer${extname(self)}`);
  const root = fileURLToPath(new URL('..', import.meta.url));
  return new Promise((done) => {
    const child = spawn(process.execPath, [...process.execArgv, peer, JSON.stringify(job)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => { stdout += s; });
    child.on('error', (e) => {
      console.error(`tfjs peer: could not start: ${e.message}`);
      done(null);
    });
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_TAG));
      if (!line) {
        console.error(`tfjs peer: exited with ${code} and no result`);
        done(null);
        return;
      }
      done(JSON.parse(line.slice(RESULT_TAG.length)) as PeerResult);
    });
  });
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    console.error(`bench kernels: ${(e as Error).message}\n\n${USAGE}`);
    return 1;
  }
  const command = ['npm run bench -- kernels', ...argv.map(shellQuote)].join(' ');
  const load = new LoadProbe();
  load.start();
  const started = new Date();

  const info = await init({ backend: 'webgpu', dawnFlags: o.dawnFlags });
  const b = backend() as WebGpuBackend;
  const ctx = b.ctx;
  const limitNames = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension',
    'minStorageBufferOffsetAlignment'];
  console.log(`adapter:  ${info.device}${ctx.isCpuAdapter ? '  (a CPU adapter)' : ''}`);
  console.log(`cpu:      ${cpuModel()} (${logicalCores()} logical cores)`);
  console.log(`features: ${info.features.join(', ') || '(none)'}`);
  console.log(`limits:   ${limitNames.map((k) => `${k} ${info.limits[k]}`).join(', ')}`);
  console.log(`dawn:     ${o.dawnFlags.join(' ')}`);
  if (o.tile) ctx.tileOverride = tileConfigs[o.tile];
  console.log(`tile:     ${o.tile ? `forced ${tileName(tileConfigs[o.tile])}` : `chosen per problem (${ctx.isCpuAdapter ? 'small on a CPU adapter' : 'large when M, N >= 128, else medium'})`}`);
  console.log(`runs:     median of ${o.runs} after ${o.warmup} warm-up; load average ${loadAverage()}`);

  const cases = buildCases(o, ctx.isCpuAdapter);
  if (cases.length === 0) {
    console.error('bench kernels: no case left after --sizes / --shapes / --ops');
    await close();
    return 1;
  }
  console.log('\nconvis (webgpu, NCHW):');
  const convis = await runConvis(o, cases, b);
  await close();

  let tfjs: PeerResult | null = null;
  if (o.tfjs) {
    console.log('\nTF.js (tfjs-backend-webgpu, NHWC), in a child process:');
    tfjs = await runTfjs({
      cases, warmup: o.warmup, runs: o.runs, timestamps: o.timing === 'auto', dawnFlags: o.dawnFlags, tfjsFlags: o.tfjsFlags,
    });
  }
  const otherCores = load.stop();

  const header = ['shape', 'convis ms', 'convis GFLOP/s', 'TF.js ms', 'TF.js GFLOP/s', 'ratio TF.js/convis', 'convis tile', 'timing convis/TF.js'];
  const abbrev = (m: string | undefined) => (m === 'timestamp' ? 'ts' : m === 'wall' ? 'wall' : '—');
  const rows = cases.map((c) => {
    const r = convis.get(c.id);
    const mine = r instanceof Error || r === undefined ? null : r;
    const theirs: PeerRow | undefined = tfjs?.rows.find((x) => x.id === c.id);
    return [
      c.label, fmtMs(mine?.m.ms), fmtRate(c.flops, mine?.m.ms), fmtMs(theirs?.ms), fmtRate(c.flops, theirs?.ms),
      fmtRatio(theirs?.ms, mine?.m.ms), mine?.tile ?? 'failed', `${abbrev(mine?.m.method)}/${abbrev(theirs?.method)}`,
    ];
  });
  console.log(`\n${textTable(header, rows)}`);
  console.log('ratio > 1: convis is faster. ts = GPU timestamp queries, wall = wall time around onSubmittedWorkDone.');

  const timed = [...convis.values()].filter((r): r is ConvisRow => !(r instanceof Error) && r.m.method === 'timestamp');
  const quantized = timed.length > 0 && timed.every((r) => r.m.quantized);
  const quantNote = timed.length === 0 ? 'convis rows used wall time'
    : quantized ? 'raw timestamps were all multiples of 2^16 ns: Dawn\'s timestamp quantization still looks on'
      : 'Dawn timestamp quantization off (raw timestamps are not multiples of 2^16 ns)';
  console.log(quantNote);
  const busy = otherCores !== null && otherCores > 0.25;
  const loadNote = otherCores === null ? 'load of other processes not measurable here (no /proc)'
    : `other processes kept ${otherCores.toFixed(2)} of ${logicalCores()} cores busy on average during the run` +
      (busy ? ' — the numbers are noisy' : '');
  console.log(loadNote);
  for (const e of tfjs?.errors ?? []) console.log(`TF.js ${e.id}: ${e.message}`);

  const failures = [...convis.values()].filter((r) => r instanceof Error).length + (tfjs?.errors.length ?? 0) +
    (o.tfjs && !tfjs ? 1 : 0);
  const write = o.write ?? (o.defaults && failures === 0);
  if (write) {
    const headingTile = o.tile ? ` (--tile ${o.tile})` : '';
    const heading = `## kernels — ${info.device} — ${cpuModel()}${headingTile}`;
    const body = [
      `- date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `- command: \`${command}\``,
      `- adapter: ${info.device}${ctx.isCpuAdapter ? ' (CPU adapter: Mesa lavapipe/llvmpipe runs the WGSL on the CPU cores)' : ''}`,
      `- cpu: ${cpuModel()}, ${logicalCores()} logical cores`,
      `- runs: median of ${o.runs} after ${o.warmup} warm-up, batch 1, fp32; convis NCHW (backend called directly, no autodiff), ` +
        `TF.js ${tfjs?.tfjsVersion ?? ''} tfjs-backend-webgpu NHWC (its native layout), dX as tf.conv2dTranspose` +
        (Object.keys(o.tfjsFlags).length ? `, TF.js flags ${JSON.stringify(o.tfjsFlags)}` : ', TF.js default flags'),
      `- timing: ts = GPU timestamp queries summed over the op's dispatches (convis: its own query set via ` +
        `GpuContext.timestampWrites; TF.js: tf.time() kernelMs), wall = wall time to onSubmittedWorkDone; ${quantNote}`,
      `- load: ${loadNote}${busy ? `; load average at the end ${loadAverage()}. Re-measure on an idle machine with \`${command}\`` : ''}`,
      '',
      markdownTable(header, rows),
      '',
      'ratio = TF.js time / convis time (> 1: convis is faster).',
    ].join('\n');
    updateSection(o.resultsFile, heading, body);
    console.log(`\nwrote the section "${heading.slice(3)}" of ${o.resultsFile}`);
  } else {
    console.log(`\nbench/RESULTS.md not updated (${failures > 0 ? 'some cases failed' : 'not a full default run'}; --write records it anyway)`);
  }
  return failures > 0 ? 1 : 0;
}

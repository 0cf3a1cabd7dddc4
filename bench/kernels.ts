// `npm run bench -- kernels`: fp32 matmul and VGG16's conv2d forward / backward-input through convis's
// WebGPU backend (called directly on preallocated operands: no tensors, no tape), then the same problems
// through TF.js's WebGPU backend in a child process on the same adapter, as one table. See bench/README.md.

import { spawn } from 'node:child_process';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/backend/webgpu/context.js';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import { type TileConfig, tileConfigs, tileKey } from '../src/backend/webgpu/gemm.js';
import { narrowTiledChannels, usesNarrowBackwardInput } from '../src/backend/webgpu/conv.js';
import { pickTile } from '../src/backend/webgpu/matmul.js';
import { pickSubgroupTile, subgroupConvAvailable } from '../src/backend/webgpu/subgroupconv.js';
import { backend, close, init } from '../src/runtime.js';
import { type BenchCase, convCase, matmulCase, shapeMatches, vggShapes } from './cases.js';
import { type Options, parseOptions, USAGE } from './kernel-options.js';
import { parseArgs, rerunCommand } from './cli.js';
import { prepareCase, SAME_3X3 } from './operands.js';
import { cpuModel, loadAverage, LoadProbe, logicalCores, sourceRevision } from './machine.js';
import { type PeerJob, type PeerResult, type PeerRow, RESULT_TAG } from './peer-protocol.js';
import { fmtMs, fmtRate, fmtRatio, markdownTable, textTable, updateSection } from './report.js';
import { DispatchTimer, type Measurement, measure } from './timing.js';

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

interface Prepared { run: () => void; kernel: string; release: () => void }

/**
 * The kernel the backend runs for a case: the subgroup kernel's tile (subgroupconv.ts) on adapters that run it, or
 * the GEMM tile from pickTile with the (M, N) that matmul.ts and conv.ts pass it (the forced tile where
 * ctx.tileOverride is set), or the narrow backward-input kernel.
 */
function caseKernel(ctx: GpuContext, c: BenchCase): string {
  if (c.kind === 'matmul') return tileName(pickTile(ctx, c.matmul!.M, c.matmul!.N));
  const { N, C, O, H, W } = c.conv!;
  // VGG16's layers are 3x3 stride 1, pad 1: the subgroup kernel's where the adapter runs it and nothing pins another
  const narrow = c.kind !== 'conv2d' && usesNarrowBackwardInput(C, 1);
  if (!narrow && (ctx.convAlgorithm === null || ctx.convAlgorithm === 'subgroup') && subgroupConvAvailable(ctx)) {
    return `subgroup ${pickSubgroupTile(H, W)}`;
  }
  if (c.kind === 'conv2d') return tileName(pickTile(ctx, O, N * H * W));
  if (!usesNarrowBackwardInput(C, 1)) return tileName(pickTile(ctx, C, N * H * W));
  return narrowTiledChannels(ctx, SAME_3X3, 3, 3) > 0 ? 'narrow dX, tiled' : 'narrow dX';
}

/** The case's operands on the backend (bench/operands.ts), its bare kernel call and the kernel it runs. */
function prepare(b: WebGpuBackend, c: BenchCase): Prepared {
  const p = prepareCase(b, c);
  try {
    return { ...p, kernel: caseKernel(b.ctx, c) };
  } catch (e) {
    p.release();
    throw e;
  }
}

function tileName(t: TileConfig): string {
  const key = tileKey(t);
  const named = Object.entries(tileConfigs).find(([, v]) => tileKey(v) === key);
  return named ? `${named[0]} ${key}` : key;
}

interface ConvisRow { m: Measurement; tile: string }

/**
 * Times every case with one tile choice (null: the backend's own). Each case gets a device of its own unless
 * --shared-device, so that no case inherits another's pooled buffers, pipelines or queue state: one H100 run
 * on a shared device showed some kernels 2-5x slower than the same kernel measured alone (not reproduced
 * since, cause not established), and a kernel benchmark should not depend on what ran before.
 */
async function runConvis(o: Options, cases: BenchCase[], tile: string | null): Promise<Map<string, ConvisRow | Error>> {
  const out = new Map<string, ConvisRow | Error>();
  let b: WebGpuBackend | null = null;
  let timer: DispatchTimer | null = null;
  const shut = async () => {
    timer?.destroy();
    timer = null;
    b = null;
    await close();
  };
  try {
    for (const c of cases) {
      if (b === null || !o.sharedDevice) {
        await shut();
        await init({ backend: 'webgpu', dawnFlags: o.dawnFlags });
        b = backend() as WebGpuBackend;
        b.ctx.tileOverride = tile ? tileConfigs[tile] : null;
        // a forced tile is the implicit GEMM's: stride-1 layers would otherwise take the subgroup kernel where it runs
        if (tile) b.ctx.convAlgorithm = 'direct';
        timer = new DispatchTimer(b.ctx);
      }
      let p: Prepared | null = null;
      try {
        p = prepare(b, c);
        const m = await measure(timer!, p.run, o.warmup, o.runs, o.timing === 'auto');
        const tileUsed = p.kernel;
        out.set(c.id, { m, tile: tileUsed });
        console.log(`  ${c.label.padEnd(26)} ${fmtMs(m.ms).padStart(8)} ms  ${fmtRate(c.flops, m.ms).padStart(7)} GFLOP/s` +
          `  (${m.method}, wall ${fmtMs(m.wallMs)} ms, ${m.dispatches} dispatch(es), tile ${tileUsed}${m.note ? `; ${m.note}` : ''})`);
      } catch (e) {
        out.set(c.id, e as Error);
        console.log(`  ${c.label.padEnd(26)} failed: ${(e as Error).message}`);
      } finally {
        p?.release();
      }
    }
  } finally {
    await shut();
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


export async function main(argv: readonly string[]): Promise<number> {
  const o = parseArgs('kernels', argv, USAGE, parseOptions);
  if (typeof o === 'number') return o;
  const command = rerunCommand('kernels', argv);
  const load = new LoadProbe();
  load.start();
  const started = new Date();
  const source = sourceRevision();

  const info = await init({ backend: 'webgpu', dawnFlags: o.dawnFlags });
  const firstCtx = (backend() as WebGpuBackend).ctx;
  const isCpuAdapter = firstCtx.isCpuAdapter;
  const limitNames = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension',
    'minStorageBufferOffsetAlignment'];
  // null: the backend's own choice per problem (pickTile); a name forces that tile through ctx.tileOverride.
  // A sweep runs every named tile; the backend's choice is then read off the one it would have picked.
  const variants: (string | null)[] = o.tile === 'all' ? Object.keys(tileConfigs) : [o.tile];
  console.log(`adapter:  ${info.device}${isCpuAdapter ? '  (a CPU adapter)' : ''}`);
  console.log(`cpu:      ${cpuModel()} (${logicalCores()} logical cores)`);
  console.log(`features: ${info.features.join(', ') || '(none)'}`);
  console.log(`limits:   ${limitNames.map((k) => `${k} ${info.limits[k]}`).join(', ')}`);
  console.log(`dawn:     ${o.dawnFlags.join(' ')}`);
  console.log(`source:   ${source}`);
  console.log(`tile:     ${o.tile === 'all' ? `every tile in turn: ${variants.join(', ')}`
    : o.tile ? `forced ${tileName(tileConfigs[o.tile])}` : 'chosen per problem by the backend'}`);
  console.log(`runs:     median of ${o.runs} after ${o.warmup} warm-up; load average ${loadAverage()}`);

  const cases = buildCases(o, isCpuAdapter);
  if (cases.length === 0) {
    console.error('bench kernels: no case left after --sizes / --shapes / --ops');
    await close();
    return 1;
  }
  const autoTile = new Map(cases.map((c) => [c.id, caseKernel(firstCtx, c)]));
  await close();
  const byVariant = new Map<string, Map<string, ConvisRow | Error>>();
  for (const v of variants) {
    console.log(`\nconvis (webgpu, NCHW), tile ${v ?? 'auto'}, ${o.sharedDevice ? 'one device for all cases' : 'a fresh device per case'}:`);
    byVariant.set(v ?? 'auto', await runConvis(o, cases, v));
  }
  // a sweep's main table shows, per case, the run of the tile the backend itself would have picked (a case
  // that runs no GEMM, the narrow dX kernel, is the same in every variant)
  const pick = (c: BenchCase) => byVariant.get(autoTile.get(c.id)!.split(' ')[0]) ?? byVariant.get(variants[0] ?? 'auto');
  const convis = o.tile === 'all'
    ? new Map(cases.map((c) => [c.id, pick(c)?.get(c.id) ?? new Error('no such tile')]))
    : byVariant.get(variants[0] ?? 'auto')!;

  let tfjs: PeerResult | null = null;
  if (o.tfjs) {
    // like convis: one process (so one device) per case, or one for all with --shared-device
    console.log(`\nTF.js (tfjs-backend-webgpu, NHWC), in ${o.sharedDevice ? 'a child process' : 'a child process per case'}:`);
    const groups = o.sharedDevice ? [cases] : cases.map((c) => [c]);
    for (const group of groups) {
      const r = await runTfjs({
        cases: group, warmup: o.warmup, runs: o.runs, timestamps: o.timing === 'auto', dawnFlags: o.dawnFlags, tfjsFlags: o.tfjsFlags,
      });
      if (!r) {
        tfjs = null;
        break;
      }
      if (tfjs) {
        tfjs.rows.push(...r.rows);
        tfjs.errors.push(...r.errors);
      } else {
        tfjs = r;
      }
    }
  }
  const otherCores = load.stop();

  const header = ['shape', 'convis ms', 'convis GFLOP/s', 'TF.js ms', 'TF.js GFLOP/s', 'ratio TF.js/convis', 'convis tile', 'timing convis/TF.js'];
  const abbrev = (m: string | undefined) => (m === 'timestamp' ? 'ts' : m === 'wall' ? 'wall' : '—');
  const ok = (r: ConvisRow | Error | undefined) => (r instanceof Error || r === undefined ? null : r);
  const rows = cases.map((c) => {
    const mine = ok(convis.get(c.id));
    const theirs: PeerRow | undefined = tfjs?.rows.find((x) => x.id === c.id);
    return [
      c.label, fmtMs(mine?.m.ms), fmtRate(c.flops, mine?.m.ms), fmtMs(theirs?.ms), fmtRate(c.flops, theirs?.ms),
      fmtRatio(theirs?.ms, mine?.m.ms), mine?.tile ?? 'failed', `${abbrev(mine?.m.method)}/${abbrev(theirs?.method)}`,
    ];
  });
  console.log(`\n${textTable(header, rows)}`);
  console.log('ratio > 1: convis is faster. ts = GPU timestamp queries, wall = wall time around onSubmittedWorkDone.');

  let sweep: { header: string[]; rows: string[][] } | null = null;
  if (variants.length > 1) {
    const names = [...byVariant.keys()];
    sweep = {
      header: ['shape', ...names.map((n) => `${n} ms`), 'backend picks', 'fastest', 'picked / fastest'],
      rows: cases.map((c) => {
        const ms = names.map((n) => ok(byVariant.get(n)!.get(c.id))?.m.ms ?? null);
        let best = -1;
        ms.forEach((m, i) => { if (m !== null && (best < 0 || m < ms[best]!)) best = i; });
        const picked = autoTile.get(c.id)!;
        const pickedMs = ms[names.indexOf(picked.split(' ')[0])];
        return [c.label, ...ms.map((m) => fmtMs(m)), picked, best >= 0 ? names[best] : '—', fmtRatio(pickedMs, best >= 0 ? ms[best] : null)];
      }),
    };
    console.log(`\nconvis tile sweep (ms):\n${textTable(sweep.header, sweep.rows)}`);
  }

  const all = [...byVariant.values()].flatMap((m) => [...m.values()]);
  const timed = all.filter((r): r is ConvisRow => !(r instanceof Error) && r.m.method === 'timestamp');
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

  const failures = all.filter((r) => r instanceof Error).length + (tfjs?.errors.length ?? 0) + (o.tfjs && !tfjs ? 1 : 0);
  const write = o.write ?? (o.defaults && failures === 0);
  if (write) {
    const heading = `## kernels — ${info.device} — ${cpuModel()}${o.tile ? ` (--tile ${o.tile})` : ''}`;
    const tfjsLine = tfjs
      ? `TF.js ${tfjs.tfjsVersion} tfjs-backend-webgpu in NHWC (its native layout; dX is tf.conv2dTranspose), ` +
        (Object.keys(o.tfjsFlags).length ? `TF.js flags ${JSON.stringify(o.tfjsFlags)}` : 'TF.js default flags')
      : 'TF.js not run';
    const body = [
      `- date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      `- command: \`${command}\``,
      `- source: ${source}`,
      `- adapter: ${info.device}${isCpuAdapter ? ' (CPU adapter: Mesa lavapipe/llvmpipe runs the WGSL on the CPU cores)' : ''}`,
      `- cpu: ${cpuModel()}, ${logicalCores()} logical cores`,
      `- runs: median of ${o.runs} after ${o.warmup} warm-up, batch 1, fp32; convis in NCHW (backend called directly ` +
        `on preallocated operands, no autodiff); ${tfjsLine}`,
      `- timing: ts = GPU timestamp queries summed over the op's dispatches (convis: its own query set through ` +
        `GpuContext.timestampWrites; TF.js: tf.time() kernelMs), wall = wall time to onSubmittedWorkDone; ${quantNote}`,
      `- load: ${loadNote}${busy ? `; load average at the end ${loadAverage()}. Re-measure on an idle machine with \`${command}\`` : ''}`,
      '',
      markdownTable(header, rows),
      '',
      'ratio = TF.js time / convis time (> 1: convis is faster).',
      ...(sweep ? ['', 'convis per tile (ms); the table above shows the tile the backend picks; picked / fastest > 1: a forced tile beat it:', '',
        markdownTable(sweep.header, sweep.rows)] : []),
    ].join('\n');
    updateSection(o.resultsFile, heading, body);
    console.log(`\nwrote the section "${heading.slice(3)}" of ${o.resultsFile}`);
  } else {
    console.log(`\nbench/RESULTS.md not updated (${failures > 0 ? 'some cases failed' : 'not a full default run'}; --write records it anyway)`);
  }
  return failures > 0 ? 1 : 0;
}

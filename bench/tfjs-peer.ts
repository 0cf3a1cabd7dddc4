// TF.js (tfjs-backend-webgpu) on the same Dawn adapter, run in its own process so that TF.js and convis never
// hold devices at the same time. bench/kernels.ts starts it as `tsx bench/tfjs-peer.ts <job json>` and reads
// the one stdout line that starts with RESULT_TAG; everything else it prints is progress on stderr.
//
// Layout: TF.js's WebGPU kernels are NHWC (HWIO filters), its native layout, so the peer runs NHWC; convis
// runs NCHW. The backward-input conv is tf.conv2dTranspose with the forward conv's filter, which is exactly
// dL/dX of that conv. Timing: tf.time()'s kernelMs, which TF.js measures with a timestamp query around each
// of its programs (one compute pass each) when the device has 'timestamp-query'; otherwise wall time around
// submit + onSubmittedWorkDone, like convis's sync().

import { type PeerResult, type PeerRow, type PeerJob, RESULT_TAG } from './peer-protocol.js';
import { randomData } from './cases.js';
import { median } from './timing.js';

const log = (s: string) => process.stderr.write(`[tfjs] ${s}\n`);

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as PeerJob;
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create(job.dawnFlags);
  (globalThis as unknown as { navigator: { gpu: GPU } }).navigator = { gpu };
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = adapter?.info;
  const adapterName = info ? [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') : 'none';

  // tfjs-backend-webgpu registers its backend at import time only if navigator.gpu exists
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  for (const [k, v] of Object.entries(job.tfjsFlags)) tf.env().set(k, v);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs-peer: tf.setBackend("webgpu") failed');
  await tf.ready();
  // the WebGPU backend's command batching is not public API: these members are read defensively
  const be = tf.backend() as unknown as {
    device: GPUDevice; commandEncoder: GPUCommandEncoder | null;
    endComputePassEncoder?: () => void; submitQueue?: () => void;
  };
  const timestampQuery = be.device.features.has('timestamp-query');
  const useTimestamps = timestampQuery && job.timestamps;
  log(`adapter ${adapterName}; tfjs ${tf.version_core}; timestamp-query ${timestampQuery}`);

  const sync = async () => {
    be.endComputePassEncoder?.();
    if (be.commandEncoder) be.submitQueue?.();
    await be.device.queue.onSubmittedWorkDone();
  };

  const result: PeerResult = { adapter: adapterName, tfjsVersion: tf.version_core, timestampQuery, rows: [], errors: [] };
  for (const c of job.cases) {
    const inputs: import('@tensorflow/tfjs-core').Tensor[] = [];
    try {
      let run: () => import('@tensorflow/tfjs-core').Tensor;
      if (c.kind === 'matmul') {
        const { M, N, K } = c.matmul!;
        const a = tf.tensor2d(randomData(M * K, 1), [M, K]), b = tf.tensor2d(randomData(K * N, 2), [K, N]);
        inputs.push(a, b);
        run = () => tf.matMul(a, b);
      } else {
        const { N, C, O, H, W, KH, KW } = c.conv!;
        const filter = tf.tensor4d(randomData(KH * KW * C * O, 3), [KH, KW, C, O]);
        inputs.push(filter);
        if (c.kind === 'conv2d') {
          const x = tf.tensor4d(randomData(N * H * W * C, 4), [N, H, W, C]);
          inputs.push(x);
          run = () => tf.conv2d(x, filter, 1, 'same', 'NHWC');
        } else {
          const dy = tf.tensor4d(randomData(N * H * W * O, 5), [N, H, W, O]);
          inputs.push(dy);
          run = () => tf.conv2dTranspose(dy, filter, [N, H, W, C], 1, 'same');
        }
      }
      await sync();
      for (let i = 0; i < job.warmup; i++) {
        run().dispose();
        await sync();
      }
      const kernel: number[] = [], wall: number[] = [];
      let programs = 0;
      for (let i = 0; i < job.runs; i++) {
        await sync();
        const t0 = performance.now();
        if (useTimestamps) {
          let y: import('@tensorflow/tfjs-core').Tensor | null = null;
          const t = await tf.time(() => { y = run(); });
          await sync();
          wall.push(performance.now() - t0);
          (y as import('@tensorflow/tfjs-core').Tensor | null)?.dispose();
          const k = typeof t.kernelMs === 'number' ? t.kernelMs : NaN;
          kernel.push(k);
          const extra = (t as { getExtraProfileInfo?: () => string }).getExtraProfileInfo?.() ?? '';
          programs = extra ? extra.split(', ').length : 0;
        } else {
          const y = run();
          await sync();
          wall.push(performance.now() - t0);
          y.dispose();
        }
      }
      const wallMs = median(wall);
      const tsOk = useTimestamps && kernel.length > 0 && kernel.every((k) => k > 0);
      const row: PeerRow = tsOk
        ? { id: c.id, ms: median(kernel), method: 'timestamp', wallMs, runs: job.runs, programs }
        : { id: c.id, ms: wallMs, method: 'wall', wallMs, runs: job.runs, programs,
            note: !job.timestamps ? 'wall time asked for' : timestampQuery ? 'kernelMs read zero' : 'no timestamp-query' };
      result.rows.push(row);
      log(`${c.label}: ${row.ms.toFixed(2)} ms (${row.method}, wall ${wallMs.toFixed(2)} ms${programs ? `, ${programs} program(s)` : ''})`);
    } catch (e) {
      result.errors.push({ id: c.id, message: (e as Error).message });
      log(`${c.label}: failed: ${(e as Error).message}`);
    } finally {
      for (const t of inputs) t.dispose();
    }
  }
  process.stdout.write(RESULT_TAG + JSON.stringify(result) + '\n');
  // the Dawn instance keeps the event loop alive; the result is written, so leave
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`tfjs-peer: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

// Where a saliency call's host time goes on a GPU: per steady-state call of VGG16 at 224 (batch 1 and 32), the time
// the host spends inside each Dawn call that may allocate, block or copy (createBuffer, buffer.destroy,
// queue.submit, queue.writeBuffer, createBindGroup, mapAsync), the count of each, when the last dispatch was
// recorded and the wall time. POOL=big runs it again with the buffer pool allowed to keep 64 GiB.
// Run: npx tsx bench/device/host-breakdown.ts
import { init, close, models, saliency, tensor } from '../../src/index.js';
import { backend } from '../../src/runtime.js';
import { keep } from '../../src/tensor/tensor.js';

type Stat = { n: number; ms: number };
const stats = new Map<string, Stat>();
function wrap<T extends object>(obj: T, name: string, label: string): void {
  const o = obj as Record<string, unknown>;
  const f = o[name] as (...a: unknown[]) => unknown;
  o[name] = function (this: unknown, ...a: unknown[]) {
    const t = performance.now();
    try {
      return f.apply(this, a);
    } finally {
      const s = stats.get(label) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += performance.now() - t;
      stats.set(label, s);
    }
  };
}

await init({ backend: 'webgpu' });
const ctx = (backend() as unknown as { ctx: Record<string, unknown> & { device: GPUDevice; lastDispatchAt: number; sync(): Promise<void>; stats(): unknown } }).ctx;
if (process.env.POOL === 'big') (ctx as Record<string, unknown>).poolFloorBytes = 64 * 2 ** 30;
const dev = ctx.device;
wrap(dev, 'createBuffer', 'createBuffer');
wrap(dev, 'createBindGroup', 'createBindGroup');
wrap(dev.queue, 'submit', 'submit');
wrap(dev.queue, 'writeBuffer', 'writeBuffer');
const proto = Object.getPrototypeOf(dev.createBuffer({ size: 16, usage: 8 }));
for (const name of ['destroy', 'mapAsync', 'getMappedRange', 'unmap']) wrap(proto, name, name);
const size = Number(process.env.SIZE ?? 224);
const m = models.vgg16({ seed: 0, inputSize: size });
for (const n of [1, 32]) {
  const data = new Float32Array(n * 3 * size * size).map((_, i) => (i * 7919) % 255);
  const x = keep(tensor(data, [n, 3, size, size]));
  const target = Array.from({ length: n }, (_, i) => i);
  const t0 = performance.now();
  while (performance.now() - t0 < 3000) await saliency(m, x, { target });
  for (let i = 0; i < 3; i++) {
    await ctx.sync();
    stats.clear();
    const t = performance.now();
    await saliency(m, x, { target });
    const wall = performance.now() - t;
    const rec = ctx.lastDispatchAt - t;
    const parts = [...stats.entries()].map(([k, s]) => `${k} ${s.n}x ${s.ms.toFixed(2)}ms`).join('; ');
    const mem = ctx.stats() as { liveBytes: number; pooledBytes: number };
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    console.log(`pool=${process.env.POOL ?? 'default'} batch ${n}: wall ${wall.toFixed(1)} ms, recorded at ${rec.toFixed(1)} ms; ${parts}; ` +
      `live ${mib(mem.liveBytes)}, pooled ${mib(mem.pooledBytes)}, peak live ${mib(ctx.peakLiveBytes as number)}`);
  }
  x.dispose();
}
m.releaseWeights();
await close();

// The WebGPU context's bind-group cache (src/backend/webgpu/context.ts): a repeated dispatch with the same
// pipeline, buffers and uniform values finds its bind group; one with other uniform values on the same buffers
// gets its own, so each reads its own values; results stay those of a fresh computation.

import { ops, tensor } from '../../src/index.js';
import { backend } from '../../src/runtime.js';
import type { GpuContext } from '../../src/backend/webgpu/context.js';
import { onEachBackend } from '../helpers/backends.js';

const ctxOf = () => (backend() as unknown as { ctx?: GpuContext }).ctx ?? null;

await onEachBackend('bind-group cache', [
  ['the same scale on the same buffers hits; another scale does not, and each reads its own value', async (t) => {
    const ctx = ctxOf();
    if (!ctx) return t.pass('bind groups are a WebGPU matter');
    const data = Float32Array.from({ length: 1000 }, (_, i) => i - 500);
    const x = tensor(data, [1000]);
    const scaled = async (s: number) => {
      const y = ops.scale(x, s);
      const v = await y.data();
      y.dispose(); // back to the pool: the next output takes the same buffer
      return v;
    };
    const exact = (v: Float32Array, s: number) => v.every((e, i) => e === data[i] * s);
    t.ok(exact(await scaled(2), 2), 'x * 2');
    const h0 = ctx.bindGroupHits, m0 = ctx.bindGroupMisses;
    t.ok(exact(await scaled(3), 3), 'x * 3 on the same buffers');
    t.equal(ctx.bindGroupMisses - m0, 1, 'another uniform value: a new bind group');
    t.ok(exact(await scaled(2), 2), 'x * 2 again');
    t.ok(exact(await scaled(3), 3), 'x * 3 again');
    t.equal(ctx.bindGroupHits - h0, 2, 'both found in the cache');
    t.equal(ctx.bindGroupMisses - m0, 1, 'nothing new created');
    x.dispose();
  }],
]);

// init/close: options are checked, a closed backend refuses work, device errors surface as exceptions,
// and a script exits by itself after close() (a child process under a deadline).

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';
import { close, init, ops, randn, sync, tensor } from '../../src/index.js';
import { availableBackends } from '../helpers/backends.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runChild(code: string, deadlineMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; signal: string | null; out: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const file = join(mkdtempSync(join(tmpdir(), 'convis-')), 'child.mts');
    writeFileSync(file, code);
    const child = spawn(process.execPath, [`${root}node_modules/tsx/dist/cli.mjs`, file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('close', (c, s) => {
      clearTimeout(timer);
      resolve({ code: c, signal: s, out, timedOut });
    });
  });
}

// probe before registering any test: tape starts running the first registered test on the next tick
const backends = await availableBackends();

test('init rejects unknown options', async (t) => {
  await init({ backend: 'tpu' as 'cpu' }).then(() => t.fail('resolved'), (e: Error) => t.match(e.message, /init: backend must be 'auto', 'webgpu' or 'cpu', got "tpu"/));
  await init(null as never).then(() => t.fail('resolved'), (e: Error) => t.match(e.message, /init: opts must be an object/));
});

if (backends.includes('webgpu')) {
  test('webgpu: an adapter that is not there is named in the error', async (t) => {
    await init({ backend: 'webgpu', adapter: 'no-such-gpu-9000' }).then(
      () => t.fail('resolved'), (e: Error) => t.match(e.message, /init: adapter "no-such-gpu-9000" not found; the available adapter is/));
    await init({ backend: 'webgpu', maxStorageBufferBindingSize: 100 }).then(
      () => t.fail('resolved'), (e: Error) => t.match(e.message, /maxStorageBufferBindingSize must be a multiple of 4 and >= 4096, got 100/));
  });

  test('webgpu: a device error becomes an exception at the next sync', async (t) => {
    await init({ backend: 'webgpu' });
    const { backend } = await import('../../src/runtime.js');
    const ctx = (backend() as unknown as { ctx: { pipeline: (k: string, c: () => string) => unknown } }).ctx;
    ctx.pipeline('broken-on-purpose', () => '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }');
    await sync().then(() => t.fail('sync resolved'), (e: Error) => t.match(e.message, /WebGPU device error/));
    const x = tensor([1, 2], [2]);
    t.deepEqual(Array.from(await ops.scale(x, 3).data()), [3, 6], 'the device still works after the error was reported');
    await close();
    t.throws(() => ops.relu(x), /relu: x lives on a backend that was closed|no backend is open/, 'a closed backend refuses work');
  });

  test('webgpu: a lost device becomes an exception, not a hang', async (t) => {
    await init({ backend: 'webgpu' });
    const { backend } = await import('../../src/runtime.js');
    const device = (backend() as unknown as { ctx: { device: GPUDevice } }).ctx.device;
    const x = tensor([1, 2], [2]);
    device.destroy();               // what a driver reset or a removed GPU looks like from here
    await device.lost;
    t.throws(() => ops.relu(x), /WebGPU device lost/, 'the next op throws');
    await close();
  });

  test('webgpu: a script exits by itself after close()', async (t) => {
    const script = `
      import { init, close, ops, randn } from '${root}src/index.ts';
      await init({ backend: 'webgpu' });
      const y = ops.conv2d(randn([1, 3, 8, 8], { seed: 1 }), randn([4, 3, 3, 3], { seed: 2 }), null, { padding: 1 });
      console.log('sum', (await ops.sum(y).data())[0]);
      await close();
      console.log('closed');`;
    const r = await runChild(script, 60_000);
    t.notOk(r.timedOut, 'exited before the 60 s deadline');
    t.equal(r.code, 0, `exit code 0 (signal ${r.signal})`);
    t.match(r.out, /closed/, 'reached the end of the script');
  });

  test('webgpu: close() twice and init() again work', async (t) => {
    await init({ backend: 'webgpu' });
    await close();
    await close();
    const info = await init({ backend: 'webgpu' });
    t.equal(info.name, 'webgpu');
    t.ok(info.limits.maxStorageBufferBindingSize > 0, `limits reported (${info.limits.maxStorageBufferBindingSize} B bindings)`);
    await close();
  });
} else {
  test('webgpu lifecycle', (t) => {
    t.comment('no WebGPU adapter on this machine: lifecycle checks of the webgpu backend did not run');
    t.end();
  });
}

if (backends.includes('cpu')) {
  test('cpu: a script exits by itself after close(), and without it', async (t) => {
    for (const closes of [true, false]) {
      const script = `
        import { init, close, ops, randn } from '${root}src/index.ts';
        await init({ backend: 'cpu' });
        const y = ops.conv2d(randn([1, 3, 8, 8], { seed: 1 }), randn([4, 3, 3, 3], { seed: 2 }), null, { padding: 1 });
        console.log('sum', (await ops.sum(y).data())[0]);
        ${closes ? 'await close();' : ''}
        console.log('done');`;
      const r = await runChild(script, 60_000);
      const what = closes ? 'after close()' : 'without close()';
      t.notOk(r.timedOut, `${what}: exited before the 60 s deadline`);
      t.equal(r.code, 0, `${what}: exit code 0 (signal ${r.signal})`);
      t.match(r.out, /done/, `${what}: reached the end of the script`);
    }
  });

  test('cpu: works where Vulkan has no driver at all, and auto falls back to it', async (t) => {
    const script = `
      import { init, close, ops, tensor } from '${root}src/index.ts';
      const explicit = await init({ backend: 'cpu' });
      console.log('explicit', explicit.name, Array.from(await ops.scale(tensor([1, 2], [2]), 3).data()).join(','));
      await close();
      const auto = await init();
      console.log('auto', auto.name);
      await close();`;
    // the Vulkan loader finds no driver when its manifest list names a file that does not exist
    const r = await runChild(script, 60_000, { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
    t.equal(r.code, 0, `exit code 0 (signal ${r.signal})`);
    t.match(r.out, /explicit cpu 3,6/, "init({ backend: 'cpu' }) computes");
    t.match(r.out, /convis: backend cpu on .*: no WebGPU adapter/, 'auto says it fell back for want of an adapter');
    t.match(r.out, /auto cpu/, 'auto opened the cpu backend');
  });

  test('cpu: kernels run off the JS thread', async (t) => {
    await init({ backend: 'cpu' });
    const a = randn([768, 768], { seed: 3 }), b = randn([768, 768], { seed: 4 });
    await sync();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    const products = Array.from({ length: 8 }, () => ops.matmul(a, b));
    const enqueueMs = performance.now() - started;
    await sync();
    const totalMs = performance.now() - started;
    clearInterval(timer);
    t.ok(ticks > 0, `timers fired ${ticks} times while ${products.length} matmuls ran (${totalMs.toFixed(0)} ms in all, ` +
      `${enqueueMs.toFixed(1)} ms to enqueue them)`);
    for (const p of [...products, a, b]) p.dispose();
    await close();
  });

  test('cpu: close() twice and init() again work', async (t) => {
    await init({ backend: 'cpu' });
    await close();
    await close();
    const info = await init({ backend: 'cpu' });
    t.equal(info.name, 'cpu');
    t.ok(info.limits.threads >= 1, `${info.limits.threads} threads on ${info.device}`);
    t.deepEqual(Array.from(await ops.scale(tensor([1, 2], [2]), 2).data()), [2, 4], 'works after re-opening');
    await close();
  });
}

test("init({ backend: 'auto' }) opens a backend and says which on one stderr line", async (t) => {
  const script = `
    import { init, close } from '${root}src/index.ts';
    const info = await init({ backend: 'auto' });
    console.log('opened', info.name);
    await close();`;
  const r = await runChild(script, 60_000);
  t.equal(r.code, 0, `exit code 0 (signal ${r.signal})`);
  const lines = r.out.split('\n').filter((l) => l.startsWith('convis: backend '));
  t.equal(lines.length, 1, `one line: ${lines[0]}`);
  const opened = /opened (\w+)/.exec(r.out)?.[1];
  t.ok(opened && lines[0]?.startsWith(`convis: backend ${opened} `), `the line names the backend that opened (${opened})`);
  if (backends.length === 0) t.fail('no backend available');
});

// init() / close(): choose and open a backend; every tensor lives on the one that is current.

import type { Backend } from './backend/interface.js';

export interface InitOptions {
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** substring of the WebGPU adapter's name */
  adapter?: string;
  /** WebGPU: request a lower storage binding limit (to exercise the split paths in tests) */
  maxStorageBufferBindingSize?: number;
  /** WebGPU: extra Dawn toggles */
  dawnFlags?: string[];
}

export interface BackendInfo {
  name: 'webgpu' | 'cpu';
  device: string;
  limits: Record<string, number>;
  features: string[];
}

let current: Backend | null = null;

export function backend(): Backend {
  if (!current) throw new Error('convis: no backend is open; call `await init()` first');
  return current;
}

export function hasBackend(): boolean {
  return current !== null;
}

async function openCpu(): Promise<Backend> {
  throw new Error('init: the native cpu backend is not built in this version of convis; use { backend: "webgpu" }');
}

export async function init(opts: InitOptions = {}): Promise<BackendInfo> {
  if (opts === null || typeof opts !== 'object') throw new Error(`init: opts must be an object, got ${opts}`);
  const kind = opts.backend ?? 'auto';
  if (!['auto', 'webgpu', 'cpu'].includes(kind)) {
    throw new Error(`init: backend must be 'auto', 'webgpu' or 'cpu', got ${JSON.stringify(kind)}`);
  }
  if (current) await close();
  if (kind === 'cpu') {
    current = await openCpu();
  } else {
    const { openWebGpu } = await import('./backend/webgpu/index.js');
    try {
      current = await openWebGpu(opts);
    } catch (e) {
      if (kind === 'webgpu') throw e;
      process.stderr.write(`convis: no WebGPU adapter (${(e as Error).message.split('\n')[0]}); using the cpu backend\n`);
      current = await openCpu();
    }
  }
  const b = current;
  return { name: b.name, device: b.device, limits: { ...b.limits }, features: 'features' in b ? [...(b as { features: string[] }).features] : [] };
}

/** Releases the device. A script that called init() exits by itself afterwards. */
export async function close(): Promise<void> {
  const b = current;
  current = null;
  if (b) await b.destroy();
}

// Loads the native addon (native/, built by binding.gyp into build/Release, or by cmake-js). CONVIS_NATIVE
// names another build of it, such as the sanitizer build that .ci/run tests under.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** [storage id, first element]: how operands cross into C++. */
export type NativeOperand = [number, number];

/** The addon's exports (native/src/addon.cc, native/src/ops.cc); every function checks its arguments. */
export interface NativeAddon {
  open(): void;
  shutdown(): void;
  threads(): number;
  alloc(elements: number): number;
  release(id: number): void;
  upload(target: NativeOperand, data: Float32Array): void;
  download(source: NativeOperand, count: number): Promise<Float32Array>;
  sync(): Promise<void>;
  memory(): { liveStorages: number; liveBytes: number };
  elementwise(op: number, inputs: NativeOperand[], strides: number[][], out: NativeOperand, shape: number[], scalars: number[]): void;
  reduce(max: boolean, x: NativeOperand, out: NativeOperand, outer: number, n: number, inner: number): void;
  softmax(x: NativeOperand, out: NativeOperand, outer: number, n: number, inner: number, log: boolean): void;
  softmaxBackward(y: NativeOperand, g: NativeOperand, out: NativeOperand, outer: number, n: number, inner: number, log: boolean): void;
  gemm(batch: number, M: number, N: number, K: number, a: NativeOperand, aStrides: number[], b: NativeOperand,
       bStrides: number[], out: NativeOperand, outStrides: number[], accumulate: boolean, bias: NativeOperand | null, relu: boolean): void;
  conv2d(x: NativeOperand, w: NativeOperand, bias: NativeOperand | null, out: NativeOperand, geometry: number[], relu: boolean): void;
  conv2dBackwardInput(gy: NativeOperand, w: NativeOperand, dx: NativeOperand, geometry: number[]): void;
  conv2dBackwardWeight(x: NativeOperand, gy: NativeOperand, dw: NativeOperand, geometry: number[]): void;
  maxPool2d(x: NativeOperand, out: NativeOperand, switches: NativeOperand | null, geometry: number[]): void;
  maxUnpool2d(g: NativeOperand, switches: NativeOperand, out: NativeOperand, geometry: number[]): void;
  gatherSwitches(x: NativeOperand, switches: NativeOperand, out: NativeOperand, geometry: number[]): void;
  avgPool2d(x: NativeOperand, out: NativeOperand, geometry: number[], countIncludePad: boolean): void;
  avgPool2dBackward(g: NativeOperand, out: NativeOperand, geometry: number[], countIncludePad: boolean): void;
  copyAxis(x: NativeOperand, out: NativeOperand, outer: number, n: number, m: number, inner: number, at: number, slice: boolean): void;
  pad2d(x: NativeOperand, out: NativeOperand, planes: number, H: number, W: number, pads: number[], value: number, crop: boolean): void;
  lrn(x: NativeOperand, out: NativeOperand, N: number, C: number, HW: number, size: number, alpha: number, beta: number, k: number): void;
  lrnBackward(x: NativeOperand, y: NativeOperand, g: NativeOperand, out: NativeOperand, N: number, C: number, HW: number,
              size: number, alpha: number, beta: number, k: number): void;
}

// src/backend/cpu and dist/backend/cpu both sit three levels below the package root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BUILDS = [join(root, 'build', 'Release', 'convis_native.node'), join(root, 'build', 'Debug', 'convis_native.node')];

let addon: NativeAddon | null = null;

export function loadNative(): NativeAddon {
  if (addon) return addon;
  const wanted = process.env.CONVIS_NATIVE;
  const path = wanted ? resolve(wanted) : BUILDS.find((p) => existsSync(p));
  if (!path || !existsSync(path)) {
    throw new Error(`init: the native cpu backend is not built (${wanted ? `CONVIS_NATIVE=${wanted} does not exist` :
      `no ${BUILDS[0]}`}); \`npm install\` builds it with node-gyp, which needs python3, make and a C++17 compiler`);
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}

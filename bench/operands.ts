// A benchmark case's operands on any backend: allocated and filled once, then the bare kernel call on them
// (no tensors, tidy scopes or tape). Shared by the kernel benchmark (WebGPU) and the cpu benchmark.

import type { Backend, Conv2dParams, Operand, Storage } from '../src/backend/interface.js';
import { type BenchCase, randomData } from './cases.js';

/** VGG16's 3x3 convolutions: stride 1, pad 1 on every side, so the output is as large as the input. */
export const SAME_3X3: Conv2dParams = {
  strideH: 1, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilationH: 1, dilationW: 1, groups: 1,
};

export interface PreparedCase {
  /** one call of the case's kernel; it only enqueues: the caller waits with backend.sync() */
  run: () => void;
  /** releases every storage the case allocated */
  release: () => void;
}

/**
 * Allocates the case's operands on `b` (NCHW activations, OIHW filters, row-major matrices), fills the inputs
 * with the seeded randomData and returns the kernel call. The outputs are left as allocated.
 */
export function prepareCase(b: Backend, c: BenchCase): PreparedCase {
  const storages: Storage[] = [];
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
      return { run: () => b.matmul(a, w, y, opts), release };
    }
    const { N, C, O, H, W, KH, KW } = c.conv!;
    const w = operand([O, C, KH, KW], true);
    if (c.kind === 'conv2d') {
      const x = operand([N, C, H, W], true), y = operand([N, O, H, W], false);
      return { run: () => b.conv2d(x, w, null, SAME_3X3, y), release };
    }
    const gy = operand([N, O, H, W], true), dx = operand([N, C, H, W], false);
    return { run: () => b.conv2dBackwardInput(gy, w, SAME_3X3, dx), release };
  } catch (e) {
    release();
    throw e;
  }
}

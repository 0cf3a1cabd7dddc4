// Pinning the WebGPU backend's convolution algorithm for a test body, with every dispatch's label recorded.

import { backend } from '../../src/runtime.js';

/** An algorithm, or F(4x4) with its GEMM on a named tile (the tuner's candidates 'winograd4:<tile>'). */
export type Algorithm = 'direct' | 'winograd' | 'winograd4' | 'subgroup' | 'winograd4:large' | 'winograd4:medium';
type ConvCtx = {
  convAlgorithm: Algorithm | null; subgroupSize: number | null; narrowTiled: boolean | null;
  timestampWrites: ((label: string) => undefined) | null;
};

/**
 * Runs `body` with the tiled narrow backward-input kernel forced on or off and the dispatch labels collected into
 * its argument; null, without running it, on the cpu backend.
 */
export async function withNarrowTiled<T>(on: boolean, body: (labels: string[]) => Promise<T>): Promise<T | null> {
  const ctx = convContext();
  if (!ctx) return null;
  const labels: string[] = [];
  ctx.narrowTiled = on;
  ctx.timestampWrites = (label) => { labels.push(label); return undefined; };
  try {
    return await body(labels);
  } finally {
    ctx.narrowTiled = null;
    ctx.timestampWrites = null;
  }
}

/** The open backend's WebGPU context, or null on the cpu backend. */
export function convContext(): ConvCtx | null {
  return (backend() as unknown as { ctx?: ConvCtx }).ctx ?? null;
}

/**
 * Runs `body` with convolutions pinned to `alg` (where it applies) and the dispatch labels collected into its
 * argument; null, without running it, on the cpu backend.
 */
export async function withAlgorithm<T>(alg: Algorithm, body: (labels: string[]) => Promise<T>): Promise<T | null> {
  const ctx = convContext();
  if (!ctx) return null;
  const labels: string[] = [];
  ctx.convAlgorithm = alg;
  ctx.timestampWrites = (label) => { labels.push(label); return undefined; };
  try {
    return await body(labels);
  } finally {
    ctx.convAlgorithm = null;
    ctx.timestampWrites = null;
  }
}

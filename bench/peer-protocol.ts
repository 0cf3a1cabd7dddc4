// What bench/kernels.ts and bench/tfjs-peer.ts exchange: the job on the peer's command line, the result as one
// JSON line on its stdout behind RESULT_TAG.

import type { BenchCase } from './cases.js';

export const RESULT_TAG = '@@tfjs-result ';

export interface PeerJob {
  cases: BenchCase[];
  warmup: number;
  runs: number;
  /** false: wall time even where timestamp queries work */
  timestamps: boolean;
  dawnFlags: string[];
  /** TF.js environment flags, e.g. { WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE: false } */
  tfjsFlags: Record<string, number | boolean | string>;
}

export interface PeerRow {
  id: string;
  ms: number;
  method: 'timestamp' | 'wall';
  wallMs: number;
  runs: number;
  /** TF.js programs (kernels) one call ran, as counted by tf.time */
  programs: number;
  note?: string;
}

export interface PeerResult {
  adapter: string;
  tfjsVersion: string;
  timestampQuery: boolean;
  rows: PeerRow[];
  errors: { id: string; message: string }[];
}

// GPU time per model layer from recorded calls (CallRecorder in timing.ts): each dispatch carries the layer and pass
// it ran for (src/autograd/trace.ts), so a layer's forward time is the sum of its forward dispatches and its
// backward time the sum of the dispatches its tape nodes made, a fused ReLU's included in its conv. Conv and linear
// layers also get an effective rate: the direct computation's FLOPs (2·N·O·C/groups·KH·KW·OH·OW for a conv,
// 2·N·in·out for a linear layer; the backward to the layer's input does as many) over that time. Winograd does fewer
// multiplications than that, so a Winograd layer's effective rate can exceed what the card computes.

import type { Model } from '../src/models/model.js';
import { fmtMs } from './report.js';
import { median, type Stamp } from './timing.js';

export interface LayerRow {
  layer: string;
  /** 'conv 3x3 64->128 @112' (the output's size), 'linear 25088->4096', or the layer's kind */
  what: string;
  forwardMs: number;
  backwardMs: number;
  /** the direct computation's FLOPs for one pass over the batch; 0 for layers that are not conv or linear */
  flops: number;
}

export interface LayerTimes {
  batch: number;
  rows: LayerRow[];
  /**
   * dispatches outside every layer: the preprocessing (its forward, and its backward inside the tape's backward),
   * and |gradient| and the channel max, which run after the tape's backward and so count as forward
   */
  outside: { forwardMs: number; backwardMs: number };
  /** the median over the calls of all their dispatches' GPU time: forward, backward and both */
  call: { forwardMs: number; backwardMs: number; totalMs: number };
  /** the calls' medians of conv layers' forward and backward ms, with their FLOPs */
  conv: { forwardMs: number; backwardMs: number; flops: number };
}

/**
 * Each layer's forward and backward GPU ms (the median over `runs` of each call's sum) for calls at batch `n`.
 * Dispatches charged to a layer the model does not have are an Error: the stamps came from another model.
 */
export function layerTimes(model: Model, n: number, runs: readonly { stamps: readonly Stamp[] }[]): LayerTimes {
  if (runs.length === 0) throw new Error('layerTimes: no recorded calls');
  const names = new Set(model.layers.map((l) => l.name));
  const OUTSIDE = '\u0000outside';
  const perRun = runs.map((r) => {
    const sums = new Map<string, number>();
    for (const s of r.stamps) {
      if (s.layer !== null && !names.has(s.layer)) throw new Error(`layerTimes: a dispatch (${s.label}) ran for layer ${JSON.stringify(s.layer)}, which ${model.name} does not have`);
      const key = `${s.layer ?? OUTSIDE}|${s.backward ? 'b' : 'f'}`;
      sums.set(key, (sums.get(key) ?? 0) + Math.max(0, s.end - s.begin) / 1e6);
    }
    return sums;
  });
  const ms = (layer: string, pass: 'f' | 'b') => median(perRun.map((m) => m.get(`${layer}|${pass}`) ?? 0));
  const shapes = model.valueShapes(n);
  const rows: LayerRow[] = [];
  const conv = { forwardMs: 0, backwardMs: 0, flops: 0 };
  for (const l of model.layers) {
    const forwardMs = ms(l.name, 'f'), backwardMs = ms(l.name, 'b');
    const out = shapes.get(l.output)!;
    let what: string = l.kind, flops = 0;
    if (l.kind === 'conv') {
      const [O, Cg, KH, KW] = l.params.w.shape;
      const groups = (l.attrs as { groups: number }).groups;
      const [N, , OH, OW] = out;
      flops = 2 * N * O * Cg * KH * KW * OH * OW;
      what = `conv ${KH}x${KW} ${Cg * groups}->${O} @${OH === OW ? OH : `${OH}x${OW}`}`;
      conv.forwardMs += forwardMs;
      conv.backwardMs += backwardMs;
      conv.flops += flops;
    } else if (l.kind === 'linear') {
      const [O, I] = l.params.w.shape;
      flops = 2 * out[0] * I * O;
      what = `linear ${I}->${O}`;
    }
    // a ReLU fused into its conv, a flatten that is a view: no dispatches, no row
    if (forwardMs > 0 || backwardMs > 0 || flops > 0) rows.push({ layer: l.name, what, forwardMs, backwardMs, flops });
  }
  const outside = { forwardMs: ms(OUTSIDE, 'f'), backwardMs: ms(OUTSIDE, 'b') };
  const sum = (m: Map<string, number>, pass: string) => [...m].reduce((a, [k, v]) => (pass === '' || k.endsWith(pass) ? a + v : a), 0);
  const call = { forwardMs: median(perRun.map((m) => sum(m, '|f'))), backwardMs: median(perRun.map((m) => sum(m, '|b'))), totalMs: median(perRun.map((m) => sum(m, ''))) };
  return { batch: n, rows, outside, call, conv };
}

/** TFLOP/s of `flops` in `ms`, or '—'. */
export function fmtTflops(flops: number, ms: number): string {
  if (!(flops > 0) || !(ms > 0)) return '—';
  const t = flops / (ms * 1e9);
  return t >= 10 ? t.toFixed(1) : t >= 1 ? t.toFixed(2) : t.toFixed(3);
}

/** The table of layerTimes: a row per layer with GPU time, the conv layers' sum and the dispatches outside layers. */
export function layerTable(t: LayerTimes): { header: string[]; rows: string[][] } {
  const header = ['layer', 'what', 'forward ms', 'forward TFLOP/s', 'backward ms', 'backward TFLOP/s'];
  const rows = t.rows.map((r) => [r.layer, r.what, fmtMs(r.forwardMs), fmtTflops(r.flops, r.forwardMs), fmtMs(r.backwardMs), fmtTflops(r.flops, r.backwardMs)]);
  rows.push(['conv layers', '', fmtMs(t.conv.forwardMs), fmtTflops(t.conv.flops, t.conv.forwardMs), fmtMs(t.conv.backwardMs), fmtTflops(t.conv.flops, t.conv.backwardMs)]);
  rows.push(['outside layers', 'preprocessing; |gradient|, channel max (forward column)', fmtMs(t.outside.forwardMs), '—', fmtMs(t.outside.backwardMs), '—']);
  rows.push(['the whole call', `${fmtMs(t.call.totalMs)} ms of GPU time`, fmtMs(t.call.forwardMs), '', fmtMs(t.call.backwardMs), '']);
  return { header, rows };
}

export const LAYER_LEGEND = 'GPU time per layer: each dispatch of a saliency call in its own compute pass between two timestamp queries, ' +
  'charged to the layer that made it, as backward when the tape\'s backward made it; a fused ReLU\'s work is in its conv; the median over the recorded calls of each ' +
  'layer\'s sum. TFLOP/s: effective, the direct convolution\'s (or the linear layer\'s) FLOPs over that time, the same count for ' +
  'the backward to the layer\'s input; Winograd layers do fewer multiplications than that count. The pass per dispatch adds a ' +
  'little time of its own, so the call\'s sum here is above its share of the wall time in the table above.';

// bench/layers.ts: GPU time per layer from recorded dispatches, on made-up stamps. The FLOP counts are worked out
// here by hand from the layers' shapes (2 · N · O · C · KH · KW · OH · OW for a conv, 2 · N · in · out for a linear
// layer); the times are medians over the calls of each layer's sum.

import test from 'tape';
import { nn } from '../../src/index.js';
import { fmtTflops, layerTable, layerTimes } from '../../bench/layers.js';
import type { Stamp } from '../../bench/timing.js';

const model = () => nn.sequential(
  nn.conv2d(3, 6, 3, { padding: 1, name: 'c1' }), nn.relu({ name: 'r1' }), nn.maxPool2d({ kernel: 2, name: 'p1' }),
  nn.conv2d(6, 4, 3, { padding: 1, name: 'c2' }), nn.relu({ name: 'r2' }), nn.flatten(1, { name: 'flat' }),
  nn.linear(4 * 4 * 4, 5, { name: 'fc' }),
  { inputShape: [3, 8, 8], seed: 1, name: 'small' },
);

/** A stamp of `ms` milliseconds starting `at` ms into the call. */
const st = (layer: string | null, backward: boolean, at: number, ms: number): Stamp =>
  ({ label: 'k', layer, backward, begin: at * 1e6, end: (at + ms) * 1e6 });

test('bench layers: sums per layer and pass, medians over calls, FLOPs from the shapes', (t) => {
  const m = model();
  const runs = [
    { stamps: [st(null, false, 0, 0.2), st('c1', false, 1, 1), st('c1', false, 2, 0.5), st('p1', false, 3, 0.25), st('c1', true, 5, 1), st(null, true, 7, 0.1)] },
    { stamps: [st(null, false, 0, 0.2), st('c1', false, 1, 2), st('p1', false, 3, 0.25), st('c1', true, 5, 3), st(null, true, 7, 0.1)] },
    { stamps: [st(null, false, 0, 0.4), st('c1', false, 1, 1), st('c2', false, 2, 4), st('c1', true, 5, 2)] },
  ];
  const r = layerTimes(m, 2, runs);
  const row = (name: string) => r.rows.find((x) => x.layer === name);
  t.deepEqual(r.rows.map((x) => x.layer), ['c1', 'p1', 'c2', 'fc'], 'rows: layers with time or FLOPs, in model order (fused ReLUs and the flatten have neither)');
  t.ok(Math.abs(row('c1')!.forwardMs - 1.5) < 1e-9, 'c1 forward: the median of 1.5, 2 and 1 ms');
  t.ok(Math.abs(row('c1')!.backwardMs - 2) < 1e-9, 'c1 backward: the median of 1, 3 and 2 ms');
  t.ok(Math.abs(row('p1')!.forwardMs - 0.25) < 1e-9, 'p1 forward: 0.25 ms (median of 0.25, 0.25, 0)');
  t.equal(row('c2')!.forwardMs, 0, 'c2 forward: median of 0, 0 and 4 ms');
  t.equal(row('c1')!.flops, 2 * 2 * 6 * 3 * 9 * 8 * 8, 'c1: 2·N·O·C·9·OH·OW');
  t.equal(row('c2')!.flops, 2 * 2 * 4 * 6 * 9 * 4 * 4, 'c2: after the 2x2 pool, 4x4 outputs');
  t.equal(row('fc')!.flops, 2 * 2 * 64 * 5, 'fc: 2·N·in·out');
  t.equal(row('p1')!.flops, 0, 'pooling counts no FLOPs');
  t.equal(row('c1')!.what, 'conv 3x3 3->6 @8');
  t.equal(row('fc')!.what, 'linear 64->5');
  t.ok(Math.abs(r.outside.forwardMs - 0.2) < 1e-9 && Math.abs(r.outside.backwardMs - 0.1) < 1e-9, 'outside layers: 0.2 ms forward, 0.1 backward');
  t.ok(Math.abs(r.call.totalMs - 5.55) < 1e-9, 'a call\'s total: the median of the per-call sums 3.05, 5.55 and 7.4 ms');
  t.ok(Math.abs(r.call.forwardMs - 2.45) < 1e-9, 'a call\'s forward: the median of 1.95, 2.45 and 5.4 ms');
  t.ok(Math.abs(r.call.backwardMs - 2) < 1e-9, 'a call\'s backward: the median of 1.1, 3.1 and 2 ms');
  t.ok(Math.abs(r.conv.forwardMs - 1.5) < 1e-9 && r.conv.flops === row('c1')!.flops + row('c2')!.flops, 'conv layers: summed');
  const tab = layerTable(r);
  t.equal(tab.rows.length, r.rows.length + 3, 'the table adds the conv sum, outside layers and the call');
  t.equal(tab.rows[0][3], fmtTflops(row('c1')!.flops, 1.5), 'c1\'s forward rate from its FLOPs and time');
  t.end();
});

test('bench layers: a grouped, strided, dilated conv counts C/groups inputs per output at the output\'s size', (t) => {
  // 9x9 input, kernel 3 dilated by 2 (extent 5), padding 2, stride 2: (9 + 4 - 5) / 2 + 1 = 5 outputs a side
  const m = nn.sequential(nn.conv2d(4, 6, 3, { groups: 2, stride: 2, dilation: 2, padding: 2, name: 'g' }), { inputShape: [4, 9, 9], seed: 1, name: 'grouped' });
  const r = layerTimes(m, 3, [{ stamps: [st('g', false, 0, 1)] }]);
  t.equal(r.rows[0].flops, 2 * 3 * 6 * 2 * 9 * 5 * 5, '2·N·O·(C/groups)·9·OH·OW');
  t.equal(r.rows[0].what, 'conv 3x3 4->6 @5');
  t.end();
});

test('bench layers: rates, and stamps from another model', (t) => {
  t.equal(fmtTflops(2e12, 100), '20.0', '2 TFLOP in 100 ms: 20 TFLOP/s');
  t.equal(fmtTflops(3e9, 1), '3.00', '3 GFLOP in 1 ms: 3 TFLOP/s');
  t.equal(fmtTflops(0, 1), '—', 'no FLOPs: no rate');
  t.equal(fmtTflops(1e9, 0), '—', 'no time: no rate');
  t.throws(() => layerTimes(model(), 1, [{ stamps: [st('zz', false, 0, 1)] }]), /layerTimes: a dispatch \(k\) ran for layer "zz", which small does not have/);
  t.throws(() => layerTimes(model(), 1, []), /layerTimes: no recorded calls/);
  t.end();
});

// conv2d forward, backward-input, backward-weight and bias gradient against the float64 reference, on
// shapes chosen to miss every tile size: 1x1 maps, stride > kernel, asymmetric padding, dilation 2,
// groups (depthwise included), batch > 1, 1 and 3 input channels.

import { ops } from '../../src/index.js';
import { checkOp, type OpCase } from '../helpers/opcheck.js';
import { onEachBackend } from '../helpers/backends.js';
import { type ConvGeom, conv2d, conv2dVjp, convOut } from '../reference/ref.js';

interface Case { name: string; g: Omit<ConvGeom, 'pb' | 'pr'> & { pb?: number; pr?: number }; bias: boolean }

const cases: Case[] = [
  { name: '3x3 pad 1, 3->4 channels, odd 7x9 map', g: { N: 1, C: 3, H: 7, W: 9, O: 4, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'batch 2, 1 channel, 5x5 kernel, stride 2', g: { N: 2, C: 1, H: 11, W: 10, O: 3, KH: 5, KW: 5, sh: 2, sw: 2, pt: 2, pl: 2, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: '1x1 map, 1x1 kernel', g: { N: 2, C: 5, H: 1, W: 1, O: 3, KH: 1, KW: 1, sh: 1, sw: 1, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'stride 3 > kernel 2', g: { N: 1, C: 2, H: 10, W: 8, O: 2, KH: 2, KW: 2, sh: 3, sw: 3, pt: 0, pl: 0, dh: 1, dw: 1, groups: 1 }, bias: false },
  { name: 'asymmetric padding [0, 2, 1, 0]', g: { N: 1, C: 2, H: 6, W: 5, O: 3, KH: 3, KW: 2, sh: 1, sw: 1, pt: 0, pl: 2, pb: 1, pr: 0, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'dilation 2', g: { N: 1, C: 3, H: 9, W: 9, O: 2, KH: 3, KW: 3, sh: 1, sw: 1, pt: 2, pl: 2, dh: 2, dw: 2, groups: 1 }, bias: true },
  { name: 'groups 2', g: { N: 2, C: 4, H: 5, W: 6, O: 6, KH: 3, KW: 3, sh: 1, sw: 2, pt: 1, pl: 1, dh: 1, dw: 1, groups: 2 }, bias: true },
  { name: 'depthwise (groups = channels), stride 2', g: { N: 1, C: 3, H: 8, W: 7, O: 3, KH: 3, KW: 3, sh: 2, sw: 2, pt: 1, pl: 1, dh: 1, dw: 1, groups: 3 }, bias: false },
  { name: 'AlexNet-style 11x11 stride 4', g: { N: 1, C: 3, H: 23, W: 23, O: 4, KH: 11, KW: 11, sh: 4, sw: 4, pt: 2, pl: 2, dh: 1, dw: 1, groups: 1 }, bias: true },
  { name: 'wider than one tile: 70 output channels, 20x19', g: { N: 1, C: 2, H: 20, W: 19, O: 70, KH: 3, KW: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 }, bias: true },
];

function opCase(c: Case): OpCase {
  const g: ConvGeom = { pb: c.g.pt, pr: c.g.pl, ...c.g };
  const [OH, OW] = convOut(g);
  const cg = g.C / g.groups;
  const inputs = [
    { shape: [g.N, g.C, g.H, g.W] },
    { shape: [g.O, cg, g.KH, g.KW] },
    ...(c.bias ? [{ shape: [g.O] }] : []),
  ];
  return {
    name: c.name,
    inputs,
    shape: [g.N, g.O, OH, OW],
    run: ([x, w, b]) => ops.conv2d(x, w, b, {
      stride: [g.sh, g.sw], padding: [g.pt, g.pl, g.pb, g.pr], dilation: [g.dh, g.dw], groups: g.groups,
    }),
    ref: ([x, w, b]) => conv2d(x, w, c.bias ? b : null, g),
    vjp: ([x, w], r) => {
      const [gx, gw, gb] = conv2dVjp(x, w, r, g);
      return c.bias ? [gx, gw, gb] : [gx, gw];
    },
    // the reduction over K accumulates in float32: allow a little more than elementwise ops
    fwdTol: 1e-5,
    gradTol: 1e-4,
  };
}

await onEachBackend('conv2d', cases.map((c) => [c.name, (t) => checkOp(t, opCase(c))]));

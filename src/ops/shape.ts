// Views: reshape and flatten share the input's memory; backward reshapes the gradient back.

import { record } from '../autograd/graph.js';
import { installReshape, shapeSize, type Tensor } from '../tensor/tensor.js';
import { checkTensor, fmt } from './util.js';

/** A view with a new shape (one dimension may be -1). */
export function reshape(x: Tensor, shape: number[]): Tensor {
  checkTensor('reshape', 'x', x);
  if (!Array.isArray(shape)) throw new Error(`reshape: shape must be an array, got ${typeof shape}`);
  const s = [...shape];
  const free = s.filter((d) => d === -1).length;
  if (free > 1) throw new Error(`reshape: at most one -1 in shape, got ${fmt(s)}`);
  for (const d of s) {
    if (!Number.isInteger(d) || d < -1) throw new Error(`reshape: shape must hold non-negative integers or one -1, got ${fmt(s)}`);
  }
  if (free === 1) {
    const known = s.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (known === 0 || x.size % known !== 0) throw new Error(`reshape: cannot infer -1 in ${fmt(s)} for ${x.size} elements of ${fmt(x.shape)}`);
    s[s.indexOf(-1)] = x.size / known;
  }
  if (shapeSize(s) !== x.size) {
    throw new Error(`reshape: ${fmt(x.shape)} (${x.size} elements) cannot be viewed as ${fmt(s)} (${shapeSize(s)} elements)`);
  }
  const y = x.share(s);
  return record('reshape', y, [x], [], (g) => [g.share(x.shape)]);
}

/** [N, ...] -> [N, rest] (or from `startAxis` on). */
export function flatten(x: Tensor, startAxis = 1): Tensor {
  checkTensor('flatten', 'x', x);
  if (!Number.isInteger(startAxis) || startAxis < 0 || startAxis >= Math.max(1, x.shape.length)) {
    throw new Error(`flatten: startAxis ${startAxis} is out of range for shape ${fmt(x.shape)}`);
  }
  const lead = x.shape.slice(0, startAxis);
  return reshape(x, [...lead, x.shape.slice(startAxis).reduce((a, b) => a * b, 1)]);
}

installReshape(reshape);

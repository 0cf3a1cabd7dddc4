// The op namespace exported as `ops`. Each family file holds forward and backward side by side.

import { installOps } from '../autograd/graph.js';
import { ones, zeros } from '../tensor/create.js';
import { add } from './elementwise.js';

export { abs, add, affine, broadcastTo, clip, div, exp, log, mul, neg, relu, scale, sigmoid, sqrt, square, sub } from './elementwise.js';
export { mean, sum } from './reduce.js';
export { linear, matmul } from './linalg.js';
export { conv2d, type Conv2dOptions } from './conv.js';
export { avgPool2d, type AvgPool2dOptions, globalAvgPool2d, maxPool2d, type MaxPool2dOptions, maxPool2dWithSwitches, maxUnpool2d } from './pool.js';
export { crossEntropy, logSoftmax, softmax } from './softmax.js';
export { flatten, reshape } from './shape.js';
export { concat, pad } from './layout.js';
export { batchNorm, dropout, type DropoutOptions, localResponseNorm, type LrnOptions } from './norm.js';

installOps({
  add,
  onesLike: (t) => ones([...t.shape]),
  zerosLike: (t) => zeros([...t.shape]),
});

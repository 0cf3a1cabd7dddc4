// models.*: three ImageNet classifiers built with nn.*, with seeded random (He-normal) weights: torchvision's
// VGG16 and AlexNet, layer for layer, and the network of Simonyan, Vedaldi & Zisserman 2013 (conv64-conv256-
// conv256-conv256-conv256-full4096-full4096-full1000) with what the paper leaves open taken from Krizhevsky et al.
// 2012. They give the visualisation methods and the benchmarks a full-size network without a download; trained
// weights go in through loadOnnx or by layer name (torchvision's state_dict prefixes: 'features.0.weight' is layer
// 'features.0', param 'w'; '.bias' is 'b').
//
// Drawing the weights (nn.ts: He normal, Box-Muller in JavaScript, one thread) is the slow part of building one:
// measured on this project's 2-core machine about 14 M parameters a second, so VGG16 (138 M) takes 9.5-10.5 s,
// AlexNet (61 M) and simonyan2013 (61 M) 3-6 s each.

import type { Model, Preprocess } from './model.js';
import * as nn from './nn.js';
import type { LayerSpec } from './nn.js';

export interface ZooOptions {
  /** seeds the weights (default 0): the same seed gives the same weights on every machine */
  seed?: number;
  /** outputs of the last layer (default 1000, ImageNet's classes) */
  classes?: number;
  /** models.vgg16 only: the square input size, a multiple of 32 (default 224); the first classifier layer then
   *  reads 512 * (size / 32)^2 features. Smaller inputs suit benchmarks on slow adapters. */
  inputSize?: number;
}

/**
 * torchvision's preprocessing for its ImageNet models: RGB scaled to [0, 1] (`scale: 1`: the 0..255 pixels of
 * loadImage divided by 255), then per channel (x - mean) / std with these ImageNet statistics.
 */
export const IMAGENET_TORCHVISION: Preprocess = Object.freeze({
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  channelOrder: 'RGB',
  scale: 1,
}) as Preprocess;

/**
 * cuda-convnet style (Krizhevsky et al. 2012, and the paper's own net, trained on "zero-centred image data"): RGB
 * in 0..255 (`scale: 255`) less the mean, no division (std 1). Krizhevsky subtracts the mean *image*; a model
 * holds per-channel values, so this is its per-channel average, the usual ImageNet figures in 0..255.
 */
export const IMAGENET_ZERO_CENTRED: Preprocess = Object.freeze({
  mean: [123.68, 116.779, 103.939],
  std: [1, 1, 1],
  channelOrder: 'RGB',
  scale: 255,
}) as Preprocess;

const copy = (p: Preprocess): Preprocess => ({ mean: [...p.mean], std: [...p.std], channelOrder: p.channelOrder, scale: p.scale });

function options(fn: string, opts: ZooOptions | undefined): { seed: number; classes: number } {
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
    throw new Error(`models.${fn}: opts must be { seed?, classes?${fn === 'vgg16' ? ', inputSize?' : ''} }, got ${String(opts)}`);
  }
  const seed = opts?.seed ?? 0;
  const classes = opts?.classes ?? 1000;
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new Error(`models.${fn}: seed must be a finite number, got ${String(seed)}`);
  if (typeof classes !== 'number' || !Number.isInteger(classes) || classes < 1) {
    throw new Error(`models.${fn}: classes must be an integer >= 1, got ${String(classes)}`);
  }
  return { seed, classes };
}

/**
 * VGG's feature layers from a configuration: numbers are 3x3 pad-1 convolutions with that many output channels,
 * each followed by ReLU (with `batchNorm`, by batch normalisation and then ReLU, as torchvision's vgg*_bn); 'M' is
 * 2x2 max pooling with stride 2. Layer names follow torchvision ('features.<i>'). Batch norm starts as the
 * identity: running mean 0, variance 1, gamma 1, beta 0.
 */
function vggFeatures(cfg: readonly (number | 'M')[], cin = 3, batchNorm = false): LayerSpec[] {
  const specs: LayerSpec[] = [];
  for (const v of cfg) {
    const name = `features.${specs.length}`;
    if (v === 'M') {
      specs.push(nn.maxPool2d({ kernel: 2, stride: 2, name }));
    } else {
      specs.push(nn.conv2d(cin, v, 3, { padding: 1, name }));
      if (batchNorm) {
        const c = (value: number) => ({ shape: [v], data: new Float32Array(v).fill(value) });
        specs.push({ ...nn.batchNorm(v, { name: `features.${specs.length}` }), params: { mean: c(0), var: c(1), gamma: c(1), beta: c(0) } });
      }
      specs.push(nn.relu({ name: `features.${specs.length}` }));
      cin = v;
    }
  }
  return specs;
}

/**
 * VGG16 (configuration D of Simonyan & Zisserman 2014) exactly as torchvision's `vgg16`: 13 conv 3x3 pad 1 each
 * followed by ReLU, max pooling 2x2 stride 2 after each of the five blocks, then the classifier. Input [3, 224, 224].
 * 138,357,544 parameters with 1000 classes.
 *
 * Layer names are torchvision's module paths: 'features.0' ... 'features.30', 'classifier.0' ... 'classifier.6'.
 * torchvision's `avgpool` (AdaptiveAvgPool2d to 7x7) is left out: at 224 the features are already 7x7 and it is
 * the identity; the `flatten` layer is torchvision's `torch.flatten(x, 1)` in forward (neither has weights).
 */
export function vgg16(opts?: ZooOptions): Model {
  const { seed, classes } = options('vgg16', opts);
  const size = opts?.inputSize ?? 224;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 32 || size % 32 !== 0) {
    throw new Error(`models.vgg16: inputSize must be a multiple of 32 (at least 32), got ${String(size)}`);
  }
  const cells = (size / 32) ** 2;
  // 'M' is a max pool; numbers are conv output channels (torchvision's cfgs['D'])
  const cfg: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
  const specs = vggFeatures(cfg);
  return nn.sequential(
    ...specs,
    nn.flatten(1, { name: 'flatten' }),
    nn.linear(512 * cells, 4096, { name: 'classifier.0' }),
    nn.relu({ name: 'classifier.1' }),
    nn.dropout(0.5, { name: 'classifier.2' }),
    nn.linear(4096, 4096, { name: 'classifier.3' }),
    nn.relu({ name: 'classifier.4' }),
    nn.dropout(0.5, { name: 'classifier.5' }),
    nn.linear(4096, classes, { name: 'classifier.6' }),
    { inputShape: [3, size, size], seed, name: 'vgg16', preprocess: copy(IMAGENET_TORCHVISION) },
  );
}

/**
 * AlexNet exactly as torchvision's `alexnet` (the one-GPU variant of Krizhevsky et al. 2012 from Krizhevsky 2014,
 * "One weird trick": 64-192-384-256-256 filters, no LRN, no grouping). Input [3, 224, 224]. 61,100,840 parameters
 * with 1000 classes.
 *
 * Layer names are torchvision's module paths ('features.0' ... 'features.12', 'classifier.0' ... 'classifier.6').
 * torchvision's `avgpool` (AdaptiveAvgPool2d to 6x6) is left out: at 224 the features are already 6x6 and it is
 * the identity; `flatten` is its `torch.flatten(x, 1)`.
 */
export function alexnet(opts?: ZooOptions): Model {
  const { seed, classes } = options('alexnet', opts);
  return nn.sequential(
    nn.conv2d(3, 64, 11, { stride: 4, padding: 2, name: 'features.0' }),
    nn.relu({ name: 'features.1' }),
    nn.maxPool2d({ kernel: 3, stride: 2, name: 'features.2' }),
    nn.conv2d(64, 192, 5, { padding: 2, name: 'features.3' }),
    nn.relu({ name: 'features.4' }),
    nn.maxPool2d({ kernel: 3, stride: 2, name: 'features.5' }),
    nn.conv2d(192, 384, 3, { padding: 1, name: 'features.6' }),
    nn.relu({ name: 'features.7' }),
    nn.conv2d(384, 256, 3, { padding: 1, name: 'features.8' }),
    nn.relu({ name: 'features.9' }),
    nn.conv2d(256, 256, 3, { padding: 1, name: 'features.10' }),
    nn.relu({ name: 'features.11' }),
    nn.maxPool2d({ kernel: 3, stride: 2, name: 'features.12' }),
    nn.flatten(1, { name: 'flatten' }),
    nn.dropout(0.5, { name: 'classifier.0' }),
    nn.linear(256 * 6 * 6, 4096, { name: 'classifier.1' }),
    nn.relu({ name: 'classifier.2' }),
    nn.dropout(0.5, { name: 'classifier.3' }),
    nn.linear(4096, 4096, { name: 'classifier.4' }),
    nn.relu({ name: 'classifier.5' }),
    nn.linear(4096, classes, { name: 'classifier.6' }),
    { inputShape: [3, 224, 224], seed, name: 'alexnet', preprocess: copy(IMAGENET_TORCHVISION) },
  );
}

/**
 * The ConvNet of Simonyan, Vedaldi & Zisserman 2013 (paper Sect. 1): "conv64-conv256-conv256-conv256-conv256-
 * full4096-full4096-full1000", "similar to that of [Krizhevsky et al. 2012]" and trained with cuda-convnet. The
 * paper gives only the filter and unit counts; everything else below is an assumption taken from Krizhevsky et
 * al. 2012, each stated next to the layer it shapes. 60,834,536 parameters with 1000 classes.
 *
 * Layer names follow Caffe's AlexNet ('conv1', 'relu1', 'norm1', 'pool1', ..., 'fc6', 'relu6', 'drop6', ...,
 * 'fc8'), the names under which cuda-convnet / Caffe weights of such nets are usually published.
 */
export function simonyan2013(opts?: ZooOptions): Model {
  const { seed, classes } = options('simonyan2013', opts);
  // Assumption: LRN as in Krizhevsky Sect. 3.3, k = 2, n = 5, alpha = 1e-4, beta = 0.75, where alpha multiplies
  // the sum of squares directly. ops.localResponseNorm (like PyTorch and ONNX) divides alpha by the size, so
  // Krizhevsky's alpha is passed as 5 * 1e-4.
  const lrn = (name: string) => nn.localResponseNorm({ size: 5, alpha: 5 * 1e-4, beta: 0.75, k: 2, name });
  // Assumption: overlapping max pooling 3x3 stride 2 (Krizhevsky Sect. 3.4, z = 3, s = 2), after the two
  // normalisation layers and after the fifth conv (Sect. 3.5).
  const pool = (name: string) => nn.maxPool2d({ kernel: 3, stride: 2, name });
  return nn.sequential(
    // Assumption: input 224x224 RGB crops (Krizhevsky Sect. 2 and 3.5; the paper's 10-crop evaluation follows
    // Krizhevsky). 11x11 stride 4 on 224 needs 2 pixels of zero padding to give Krizhevsky's 55x55 maps
    // ((224 + 4 - 11) / 4 + 1 = 55, floored): padding 2, as torchvision's AlexNet (Caffe uses 227 crops, pad 0).
    // Assumption: conv1 is Krizhevsky's first layer, 11x11 stride 4, with 64 filters instead of 96 (paper: conv64).
    nn.conv2d(3, 64, 11, { stride: 4, padding: 2, name: 'conv1' }),                   // -> 64 x 55 x 55
    // Assumption: ReLU after every conv and full layer but the last (Krizhevsky Sect. 3.1 and 3.5).
    nn.relu({ name: 'relu1' }),
    // Assumption: LRN after the ReLU of the first two convs, before their pooling (Krizhevsky Sect. 3.3, 3.5).
    lrn('norm1'),
    pool('pool1'),                                                                      // -> 64 x 27 x 27
    // Assumption: conv2 is 5x5 (Krizhevsky Sect. 3.5), padded by 2 to keep 27x27, with 256 filters (paper:
    // conv256, Krizhevsky's count too). No grouping: the paper's net is one-tower ("less wide"); Krizhevsky's
    // two-GPU split (groups of 2 in conv2, conv4, conv5) is left out.
    nn.conv2d(64, 256, 5, { padding: 2, name: 'conv2' }),                              // -> 256 x 27 x 27
    nn.relu({ name: 'relu2' }),
    lrn('norm2'),
    pool('pool2'),                                                                      // -> 256 x 13 x 13
    // Assumption: conv3-conv5 are 3x3 stride 1 pad 1 (Krizhevsky Sect. 3.5), 256 filters each (paper: conv256;
    // Krizhevsky's 384-384-256 are narrowed, as the paper says its net is less wide), no grouping, no LRN or
    // pooling between them (Krizhevsky Sect. 3.5).
    nn.conv2d(256, 256, 3, { padding: 1, name: 'conv3' }),                             // -> 256 x 13 x 13
    nn.relu({ name: 'relu3' }),
    nn.conv2d(256, 256, 3, { padding: 1, name: 'conv4' }),
    nn.relu({ name: 'relu4' }),
    nn.conv2d(256, 256, 3, { padding: 1, name: 'conv5' }),
    nn.relu({ name: 'relu5' }),
    pool('pool5'),                                                                      // -> 256 x 6 x 6
    nn.flatten(1, { name: 'flatten' }),
    // Assumption: full4096-full4096 are Krizhevsky's fc6 / fc7 with ReLU, dropout 0.5 on their outputs (Sect.
    // 4.2, "dropout in the first two fully-connected layers"; the identity at inference), and full1000 is the
    // class score layer S_c with no softmax (the methods need the unnormalised scores, paper Sect. 2).
    nn.linear(256 * 6 * 6, 4096, { name: 'fc6' }),
    nn.relu({ name: 'relu6' }),
    nn.dropout(0.5, { name: 'drop6' }),
    nn.linear(4096, 4096, { name: 'fc7' }),
    nn.relu({ name: 'relu7' }),
    nn.dropout(0.5, { name: 'drop7' }),
    nn.linear(4096, classes, { name: 'fc8' }),
    // Assumption: cuda-convnet preprocessing, 0..255 RGB less the ImageNet mean, no std scaling (paper Sect. 2:
    // "trained on the zero-centred image data"); see IMAGENET_ZERO_CENTRED.
    { inputShape: [3, 224, 224], seed, name: 'simonyan2013', preprocess: copy(IMAGENET_ZERO_CENTRED) },
  );
}

/** The number of weights in a model (every param of every layer). */
export function parameterCount(model: Model): number {
  let n = 0;
  for (const layer of model.layers) for (const p of Object.values(layer.params)) n += p.data.length;
  return n;
}

/**
 * The small VGG-style network convis trains on its procedural shapes dataset (src/data/shapes.ts; `convis train`):
 * four blocks of 3x3 pad-1 convolutions with ReLU, [w, w], [2w, 2w], [4w, 4w], [4w], each followed by 2x2 max
 * pooling, then a hidden fully connected layer of 8w units with ReLU and dropout 0.5, and the class scores.
 * Input [3, S, S] with S a multiple of 16 (default 96). With w = 16 and 10 classes at 96: 405,338 parameters.
 * `dropout` is the hidden layer's dropout probability (default 0.5; 0 leaves the layer out).
 * `batchNorm: true` puts batch normalisation between each convolution and its ReLU (trained in training mode;
 * saveOnnx writes it as BatchNormalization, which loadOnnx folds back into the convolution).
 * `preprocess` defaults to mean 0.5 and std 0.25 per channel on 0..1 RGB; training replaces it with the training
 * set's own statistics.
 */
export function shapesNet(opts?: ZooOptions & { width?: number; batchNorm?: boolean; dropout?: number; preprocess?: Preprocess; classNames?: readonly string[] }): Model {
  const { seed, classes } = options('shapesNet', { ...opts, classes: opts?.classes ?? 10 });
  const size = opts?.inputSize ?? 96;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 16 || size % 16 !== 0) {
    throw new Error(`models.shapesNet: inputSize must be a multiple of 16 (at least 16), got ${String(size)}`);
  }
  const w = opts?.width ?? 16;
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > 256) throw new Error(`models.shapesNet: width must be an integer from 1 to 256, got ${String(w)}`);
  const cfg: (number | 'M')[] = [w, w, 'M', 2 * w, 2 * w, 'M', 4 * w, 4 * w, 'M', 4 * w, 'M'];
  const bn = opts?.batchNorm ?? false;
  if (typeof bn !== 'boolean') throw new Error(`models.shapesNet: batchNorm must be a boolean, got ${String(bn)}`);
  const specs = vggFeatures(cfg, 3, bn);
  const drop = opts?.dropout ?? 0.5;
  if (typeof drop !== 'number' || !(drop >= 0 && drop < 1)) throw new Error(`models.shapesNet: dropout must be a number in [0, 1), got ${String(drop)}`);
  const cells = (size / 16) ** 2;
  const m = nn.sequential(
    ...specs,
    nn.flatten(1, { name: 'flatten' }),
    nn.linear(4 * w * cells, 8 * w, { name: 'classifier.0' }),
    nn.relu({ name: 'classifier.1' }),
    ...(drop > 0 ? [nn.dropout(drop, { name: 'classifier.2' })] : []),
    nn.linear(8 * w, classes, { name: 'classifier.3' }),
    { inputShape: [3, size, size], seed, name: 'shapesnet', preprocess: opts?.preprocess ?? { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], channelOrder: 'RGB', scale: 1 },
      classNames: opts?.classNames },
  );
  // the class scores start near zero (loss near log K): with He weights there too the first steps of training
  // met a cross-entropy of ~5 and large gradients through a network without normalisation layers
  for (const t of Object.values(m.layer('classifier.3').params)) t.data.forEach((v, i, a) => { a[i] = 0.01 * v; });
  return m;
}

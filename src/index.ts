// convis: ask a trained ConvNet what it sees.

import * as ops from './ops/index.js';

export { ops };
export { init, close, type BackendInfo, type InitOptions } from './runtime.js';
export { Tensor, tidy, keep } from './tensor/tensor.js';
export { tensor, zeros, ones, full, rand, randn } from './tensor/create.js';
export { grad, noGrad } from './autograd/graph.js';
export type { Backend, MemoryStats } from './backend/interface.js';

import { backend } from './runtime.js';
/** Live and pooled device memory of the current backend. */
export const memory = () => backend().memory();
/** Waits for the device to finish submitted work; rethrows any device error. */
export const sync = () => backend().sync();

export * as nn from './models/nn.js';
export { Model, type ModelOptions, type Preprocess, type RunOptions } from './models/model.js';
export type { HostTensor, Layer, LayerKind } from './models/layers.js';
export * as models from './models/zoo.js';
export { loadOnnx } from './models/onnx/import.js';
export { encodeOnnx, saveOnnx } from './models/onnx/export.js';
export {
  classModel, type ClassModelOptions, type ClassModelResult, compareDeconvToGradient, type CompareOptions, deconvnet,
  type DeconvnetOptions, type DeconvReport, type DeconvLayerReport, saliency, type SaliencyMap, type SaliencyOptions,
} from './vis/index.js';
export {
  centerCrop, colorize, crop, decodeImage, encodeImage, flipHorizontal, loadImage, planar, planarToTensor,
  resize, resizeShorterSide, saveHeatmap, saveImage, tensorToPlanar,
  type Colormap, type HeatmapOptions, type ImageFormat, type LoadImageOptions, type MapLike, type Planar,
  type SaveImageOptions,
} from './image/index.js';
export {
  type Box, evaluateLocalisation, type GroundTruth, iou, localise, type Localisation, type LocaliseOptions,
} from './localise/localise.js';
export { localisationFigure, saveLocalisationFigure } from './localise/figure.js';
export { Adam, type AdamOptions, SGD, type SgdOptions } from './train/optim.js';
export { accuracy, type Dataset, type EpochResult, train, type TrainOptions, type TrainProgress } from './train/train.js';
export { augment, type AugmentOptions } from './train/augment.js';
export * as shapes from './data/index.js';

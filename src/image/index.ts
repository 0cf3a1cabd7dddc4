// Images on the host and on disk: planar transforms, decoding / encoding through sharp, heatmaps.

export { centerCrop, crop, flipHorizontal, type Planar, planar, resize, resizeShorterSide } from './transform.js';
export {
  decodeImage, encodeImage, type ImageFormat, loadImage, type LoadImageOptions, planarToTensor, saveImage,
  type SaveImageOptions, tensorToPlanar,
} from './io.js';
export { type Colormap, colorize, type HeatmapOptions, type MapLike, saveHeatmap } from './heatmap.js';

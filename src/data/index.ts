// Procedural datasets generated on the host: seeded shape images with labels, masks and boxes.

export {
  canonicalMask, CLASS_NAMES, DEFAULT_SIZE, generateSplit, MAX_SIZE, MIN_SIZE, NUM_CLASSES, renderSample, type Sample,
  SPLITS, type SplitSpec, toBatch,
} from './shapes.js';

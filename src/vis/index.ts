// The paper's methods: saliency maps (Sect. 3), class model visualisation (Sect. 2), DeconvNet (Sect. 4).

export { saliency, type SaliencyMap, type SaliencyMethod, type SaliencyOptions, tenCropOrigins } from './saliency.js';
export { classModel, type ClassModelOptions, type ClassModelRegularisers, type ClassModelResult, gaussianBlur } from './classModel.js';
export {
  compareDeconvToGradient, type CompareOptions, type DeconvLayerReport, deconvnet, type DeconvnetOptions, type DeconvReport,
} from './deconvnet.js';
export { preprocessAffine, toModelInput } from './common.js';

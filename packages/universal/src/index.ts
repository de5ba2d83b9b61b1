export { buildUniversalGraph, TEXT_LAYER_PREFIX, universalLayerIndices } from './graph.js';
export { loadUniversal, universalPorts } from './module.js';
export { buildVisionProjGraph, visionProjPorts } from './heads.js';

export { buildFusionGraph, FUSION_PREFIX, fusionSlots } from './graph.js';
export { fusionPorts, loadFusion } from './module.js';
export { buildItmHeadGraph, itmHeadPorts } from './heads.js';

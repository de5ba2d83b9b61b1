export * from './errors.js';
export * from './tensor.js';
export * from './ports.js';
export * from './config.js';
export * from './onnx/index.js';
export * from './runtime/session.js';

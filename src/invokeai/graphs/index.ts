/**
 * Generation graph builders (pure; safe to import from workflow code).
 * @example
 * import { buildTextToImageBatch, expandSeeds, OUTPUT_NODE_ID } from '../invokeai/graphs/index.js';
 */
export * from './types.js';
export * from './parameters.js';
export * from './generation.js';

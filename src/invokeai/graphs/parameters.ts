/**
 * Parameter checks the builders run before anything is sent, and the seed helper. Pure.
 */
import {
  SCHEDULERS,
  type GenerationGraphInput,
  type ImageToImageInput,
  type ModelRecordLike,
  type SupportedBase,
} from './types.js';

/** A generation parameter the builders refuse; `field` names it (e.g. `width`, `seeds`, `model.hash`). */
export class GraphParameterError extends Error {
  override name = 'GraphParameterError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * Width/height range per base, px (inclusive; both multiples of 8). sd-1 was trained at 512 and
 * degrades fast outside 256–2048; sdxl was trained at 1024 and 512–4096 still fits a 24 GB card.
 */
export const SIZE_LIMITS: Record<SupportedBase, { min: number; max: number }> = {
  'sd-1': { min: 256, max: 2048 },
  sdxl: { min: 512, max: 4096 },
};

/** Steps range accepted (InvokeAI needs > 0; above 150 is a typo, not a setting). */
export const STEPS_LIMITS = { min: 1, max: 150 };

/** cfg_scale range accepted (InvokeAI needs ≥ 1). */
export const CFG_SCALE_LIMITS = { min: 1, max: 30 };

/** Largest seed the noise node takes (2³² − 1). */
export const MAX_SEED = 4294967295;

/** Default for `GraphBuildOptions.maxBatchSize` (config `MAX_BATCH_SIZE` default). */
export const DEFAULT_MAX_BATCH_SIZE = 10;

/**
 * Seeds for `count` images starting at `seed`: seed, seed+1, … (wrapping at 2³², as the noise node
 * does). Random seeds are drawn by the caller (an activity, or `Math.random` inside a Temporal
 * workflow, which is deterministic there).
 * @example expandSeeds(41, 3) // [41, 42, 43]
 */
export function expandSeeds(seed: number, count: number): number[] {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new GraphParameterError('seed', `must be an integer in 0..${MAX_SEED}, got ${seed}`);
  }
  if (!Number.isInteger(count) || count < 1) throw new GraphParameterError('batchSize', `must be ≥ 1, got ${count}`);
  return Array.from({ length: count }, (_, i) => (seed + i) % (MAX_SEED + 1));
}

/** The batch `destination` of a step: `photo-gallery:step:<step id>` (filter for `list_all`). */
export function stepDestination(stepId: string): string {
  return `photo-gallery:step:${stepId}`;
}

/** Checks every parameter of a text-to-image input; returns the base. @throws GraphParameterError */
export function checkGenerationInput(input: GenerationGraphInput, maxBatchSize: number): SupportedBase {
  nonEmpty('stepId', input.stepId);
  nonEmpty('batchId', input.batchId);
  nonEmpty('correlationId', input.correlationId);
  const base = checkModel('model', input.model, 'main');
  if (input.vae) {
    checkModel('vae', input.vae, 'vae');
    if (input.vae.base !== base) {
      throw new GraphParameterError('vae.base', `VAE base ${input.vae.base} does not match model base ${base}`);
    }
  }
  if (typeof input.prompt !== 'string' || input.prompt.trim() === '') {
    throw new GraphParameterError('prompt', 'must not be empty');
  }
  if (input.negativePrompt != null && typeof input.negativePrompt !== 'string') {
    throw new GraphParameterError('negativePrompt', 'must be a string');
  }
  checkSize('width', input.width, base);
  checkSize('height', input.height, base);
  checkRange('steps', input.steps, STEPS_LIMITS, true);
  checkRange('cfgScale', input.cfgScale, CFG_SCALE_LIMITS, false);
  if (!(SCHEDULERS as readonly string[]).includes(input.scheduler)) {
    throw new GraphParameterError('scheduler', `unknown scheduler ${JSON.stringify(input.scheduler)}`);
  }
  if (!Array.isArray(input.seeds) || input.seeds.length < 1) {
    throw new GraphParameterError('seeds', 'at least one seed is needed');
  }
  if (input.seeds.length > maxBatchSize) {
    throw new GraphParameterError('seeds', `${input.seeds.length} images exceed the batch size limit ${maxBatchSize}`);
  }
  for (const s of input.seeds) {
    if (!Number.isInteger(s) || s < 0 || s > MAX_SEED) {
      throw new GraphParameterError('seeds', `every seed must be an integer in 0..${MAX_SEED}, got ${s}`);
    }
  }
  if (input.boardId != null) nonEmpty('boardId', input.boardId);
  return base;
}

/** Checks an image-to-image input (everything above plus init image and strength). @throws GraphParameterError */
export function checkImageToImageInput(input: ImageToImageInput, maxBatchSize: number): SupportedBase {
  const base = checkGenerationInput(input, maxBatchSize);
  if (!input.initImage) throw new GraphParameterError('initImage', 'is required for image-to-image');
  nonEmpty('initImage.imageName', input.initImage.imageName);
  // Noise is sized to the init image; i2l latents are the image size / 8, so both must agree exactly.
  checkSize('initImage.width', input.initImage.width, base);
  checkSize('initImage.height', input.initImage.height, base);
  if (input.width !== input.initImage.width || input.height !== input.initImage.height) {
    throw new GraphParameterError(
      'width',
      `image-to-image runs at the init image size ${input.initImage.width}×${input.initImage.height}, got ${input.width}×${input.height}`,
    );
  }
  if (typeof input.strength !== 'number' || !(input.strength >= 0 && input.strength <= 1)) {
    throw new GraphParameterError('strength', `must be in 0..1, got ${input.strength}`);
  }
  return base;
}

function nonEmpty(field: string, v: unknown): void {
  if (typeof v !== 'string' || v === '') throw new GraphParameterError(field, 'must be a non-empty string');
}

function checkModel(field: string, m: ModelRecordLike | undefined, type: 'main' | 'vae'): SupportedBase {
  if (!m) throw new GraphParameterError(field, 'is required');
  for (const k of ['key', 'hash', 'name', 'base', 'type'] as const) nonEmpty(`${field}.${k}`, m[k]);
  if (m.type !== type) throw new GraphParameterError(`${field}.type`, `must be ${type}, got ${m.type}`);
  if (m.base !== 'sdxl' && m.base !== 'sd-1') {
    throw new GraphParameterError(`${field}.base`, `unsupported base ${m.base} (sdxl or sd-1)`);
  }
  return m.base;
}

function checkSize(field: string, v: number, base: SupportedBase): void {
  const { min, max } = SIZE_LIMITS[base];
  if (!Number.isInteger(v) || v % 8 !== 0 || v < min || v > max) {
    throw new GraphParameterError(field, `must be a multiple of 8 in ${min}..${max} px for ${base}, got ${v}`);
  }
}

function checkRange(field: string, v: number, r: { min: number; max: number }, integer: boolean): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < r.min || v > r.max) {
    throw new GraphParameterError(field, `must be ${integer ? 'an integer' : 'a number'} in ${r.min}..${r.max}, got ${v}`);
  }
}

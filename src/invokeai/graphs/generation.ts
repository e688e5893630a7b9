/**
 * Pure builders of the `enqueue_batch` body for text-to-image and image-to-image, bases sdxl and
 * sd-1, with the nodes, fields and edges of InvokeAI's web UI (reference §7.3–§7.5). Two deliberate
 * simplifications: prompts are literals on the compel nodes (no `string` primitive nodes) and the
 * conditioning goes straight into `denoise_latents` (no `collect` node; valid since the inputs take
 * a single ConditioningField, §7.2). Only the seed varies per image, through one zip group.
 */
import {
  BATCH_ORIGIN,
  CID_METADATA_KEY,
  METADATA_NODE_ID,
  NOISE_NODE_ID,
  OUTPUT_NODE_ID,
  type EnqueueBatchBody,
  type GenerationGraphInput,
  type GraphBuildOptions,
  type GraphEdge,
  type GraphNode,
  type ImageToImageInput,
  type ModelIdentifierField,
  type ModelRecordLike,
  type SupportedBase,
} from './types.js';
import {
  DEFAULT_MAX_BATCH_SIZE,
  checkGenerationInput,
  checkImageToImageInput,
  stepDestination,
} from './parameters.js';

/**
 * The enqueue body for a text-to-image step: one queue item per seed, each saving one image at
 * node `OUTPUT_NODE_ID`.
 * @throws GraphParameterError (with `field`) on a bad parameter; nothing is built
 * @example
 * const body = buildTextToImageBatch({ stepId, batchId, correlationId, model, prompt: 'a cat',
 *   width: 1024, height: 1024, steps: 30, cfgScale: 7.5, scheduler: 'euler', seeds: expandSeeds(1, 4) });
 * await invokeai.enqueueBatch(body);
 */
export function buildTextToImageBatch(input: GenerationGraphInput, options: GraphBuildOptions = {}): EnqueueBatchBody {
  const base = checkGenerationInput(input, options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE);
  return build(input, base, undefined);
}

/**
 * The enqueue body for an image-to-image (refinement) step: the uploaded init image goes through
 * `i2l` into `denoise_latents.latents`, `denoising_start = 1 − strength`, noise at the init size.
 * @throws GraphParameterError on a bad parameter (also when width/height differ from the init image)
 */
export function buildImageToImageBatch(input: ImageToImageInput, options: GraphBuildOptions = {}): EnqueueBatchBody {
  const base = checkImageToImageInput(input, options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE);
  return build(input, base, input);
}

function build(input: GenerationGraphInput, base: SupportedBase, i2i: ImageToImageInput | undefined): EnqueueBatchBody {
  const sdxl = base === 'sdxl';
  const model = identifier(input.model);
  const vae = input.vae ? identifier(input.vae) : undefined;
  const negative = input.negativePrompt ?? '';
  const { width, height, seeds } = input;
  const nodes: Record<string, GraphNode> = {};
  const edges: GraphEdge[] = [];
  const node = (id: string, type: string, fields: Record<string, unknown>) => {
    nodes[id] = { id, type, is_intermediate: true, use_cache: true, ...fields };
  };
  const edge = (from: string, field: string, to: string, toField: string) =>
    edges.push({ source: { node_id: from, field }, destination: { node_id: to, field: toField } });

  node('model', sdxl ? 'sdxl_model_loader' : 'main_model_loader', { model });
  if (vae) node('vae', 'vae_loader', { vae_model: vae });
  const vaeSource = vae ? 'vae' : 'model';

  if (sdxl) {
    const size = {
      original_width: width,
      original_height: height,
      crop_top: 0,
      crop_left: 0,
      target_width: width,
      target_height: height,
    };
    node('pos', 'sdxl_compel_prompt', { prompt: input.prompt, style: input.prompt, ...size });
    node('neg', 'sdxl_compel_prompt', { prompt: negative, style: negative, ...size });
    for (const cond of ['pos', 'neg']) {
      edge('model', 'clip', cond, 'clip');
      edge('model', 'clip2', cond, 'clip2');
    }
  } else {
    node('clip_skip', 'clip_skip', { skipped_layers: 0 });
    node('pos', 'compel', { prompt: input.prompt });
    node('neg', 'compel', { prompt: negative });
    edge('model', 'clip', 'clip_skip', 'clip');
    edge('clip_skip', 'clip', 'pos', 'clip');
    edge('clip_skip', 'clip', 'neg', 'clip');
  }

  node(NOISE_NODE_ID, 'noise', { seed: seeds[0], width, height, use_cpu: true });
  node('denoise', 'denoise_latents', {
    steps: input.steps,
    cfg_scale: input.cfgScale,
    cfg_rescale_multiplier: 0,
    scheduler: input.scheduler,
    denoising_start: i2i ? round(1 - i2i.strength) : 0,
    denoising_end: 1,
  });
  edge('model', 'unet', 'denoise', 'unet');
  edge('pos', 'conditioning', 'denoise', 'positive_conditioning');
  edge('neg', 'conditioning', 'denoise', 'negative_conditioning');
  edge(NOISE_NODE_ID, 'noise', 'denoise', 'noise');

  if (i2i) {
    node('i2l', 'i2l', { image: { image_name: i2i.initImage.imageName }, fp32: true, color_compensation: 'None' });
    edge(vaeSource, 'vae', 'i2l', 'vae');
    edge('i2l', 'latents', 'denoise', 'latents');
  }

  node(METADATA_NODE_ID, 'core_metadata', {
    generation_mode: `${sdxl ? 'sdxl_' : ''}${i2i ? 'img2img' : 'txt2img'}`,
    positive_prompt: input.prompt,
    negative_prompt: negative,
    ...(sdxl ? { positive_style_prompt: input.prompt, negative_style_prompt: negative } : { clip_skip: 0 }),
    width,
    height,
    seed: seeds[0],
    rand_device: 'cpu',
    steps: input.steps,
    cfg_scale: input.cfgScale,
    cfg_rescale_multiplier: 0,
    scheduler: input.scheduler,
    model,
    ...(vae ? { vae } : {}),
    ...(i2i ? { strength: i2i.strength, init_image: i2i.initImage.imageName } : {}),
    // Provenance only: an extra key core_metadata keeps (extra="allow"); the prompt stays untouched.
    [CID_METADATA_KEY]: input.correlationId,
  });

  nodes[OUTPUT_NODE_ID] = {
    id: OUTPUT_NODE_ID,
    type: 'l2i',
    fp32: true,
    is_intermediate: false,
    // A cached output node would return an old image_name instead of saving a new image (§7.1).
    use_cache: false,
    ...(input.boardId ? { board: { board_id: input.boardId } } : {}),
  };
  edge('denoise', 'latents', OUTPUT_NODE_ID, 'latents');
  edge(vaeSource, 'vae', OUTPUT_NODE_ID, 'vae');
  edge(METADATA_NODE_ID, 'metadata', OUTPUT_NODE_ID, 'metadata');

  return {
    prepend: false,
    batch: {
      batch_id: input.batchId,
      origin: BATCH_ORIGIN,
      destination: stepDestination(input.stepId),
      graph: { id: `photo-gallery:${input.batchId}`, nodes, edges },
      runs: 1,
      data: [
        [
          { node_path: NOISE_NODE_ID, field_name: 'seed', items: [...seeds] },
          { node_path: METADATA_NODE_ID, field_name: 'seed', items: [...seeds] },
        ],
      ],
    },
  };
}

/** The five ModelIdentifierField keys, copied from the cached record (extra columns dropped). */
function identifier(m: ModelRecordLike): ModelIdentifierField {
  return { key: m.key, hash: m.hash, name: m.name, base: m.base, type: m.type };
}

/** 1 − 0.7 is 0.30000000000000004; keep the value a reader expects. */
function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/**
 * Types and constants shared by the graph builders and the client. Pure: no Node imports, so
 * workflow code may import this module.
 */

/** The node id of the image-saving node in every graph we build; resolve it in `source_prepared_mapping`. */
export const OUTPUT_NODE_ID = 'out';

/** The core_metadata node's id. */
export const METADATA_NODE_ID = 'meta';

/** The noise node's id (its `seed` gets the batch's seed list). */
export const NOISE_NODE_ID = 'noise';

/** The extra core_metadata key carrying the step's correlation id (stored in the PNG, never in the prompt). */
export const CID_METADATA_KEY = 'photo_gallery_cid';

/** `batch.origin` of every batch we enqueue. */
export const BATCH_ORIGIN = 'photo-gallery';

/** Schedulers `denoise_latents` accepts (reference §7.2, OpenAPI `DenoiseLatentsInvocation.scheduler`). */
export const SCHEDULERS = [
  'ddim', 'ddpm', 'deis', 'deis_k', 'lms', 'lms_k', 'pndm', 'heun', 'heun_k', 'euler', 'euler_k', 'euler_a',
  'kdpm_2', 'kdpm_2_k', 'kdpm_2_a', 'kdpm_2_a_k', 'dpmpp_2s', 'dpmpp_2s_k', 'dpmpp_2m', 'dpmpp_2m_k',
  'dpmpp_2m_sde', 'dpmpp_2m_sde_k', 'dpmpp_3m', 'dpmpp_3m_k', 'dpmpp_sde', 'dpmpp_sde_k', 'er_sde', 'unipc',
  'unipc_k', 'lcm', 'tcd',
] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

/** Bases the builders support. */
export type SupportedBase = 'sdxl' | 'sd-1';

/**
 * The five fields of a ModelIdentifierField, as cached in the `models` table (a `models` row fits).
 * All five are required by InvokeAI (reference §7.1).
 */
export interface ModelRecordLike {
  key: string;
  hash: string;
  name: string;
  base: string;
  type: string;
}

/** ModelIdentifierField as sent to InvokeAI. */
export interface ModelIdentifierField {
  key: string;
  hash: string;
  name: string;
  base: string;
  type: string;
}

/** A graph node: `id` equals its key in `nodes`. */
export type GraphNode = { id: string; type: string; is_intermediate?: boolean; use_cache?: boolean } & Record<
  string,
  unknown
>;

/** A graph edge `source.node_id.field → destination.node_id.field`. */
export interface GraphEdge {
  source: { node_id: string; field: string };
  destination: { node_id: string; field: string };
}

/** `Graph` */
export interface Graph {
  id?: string;
  nodes: Record<string, GraphNode>;
  edges: GraphEdge[];
}

/** `BatchDatum`: `items` substituted into `nodes[node_path][field_name]`, one per session. */
export interface BatchDatum {
  node_path: string;
  field_name: string;
  items: (string | number | { image_name: string })[];
}

/** The body of `POST /api/v1/queue/{queue_id}/enqueue_batch`. */
export interface EnqueueBatchBody {
  prepend?: boolean;
  batch: {
    batch_id: string;
    origin?: string | null;
    destination?: string | null;
    graph: Graph;
    runs: number;
    /** zip groups; the sessions are the product of the groups */
    data?: BatchDatum[][] | null;
  };
}

/** Input of the generation graph builders. Sizes in px. */
export interface GenerationGraphInput {
  /** our generation step's id (goes into `destination`) */
  stepId: string;
  /** the client-chosen, unique `batch_id` */
  batchId: string;
  /** the step's correlation id, written to core_metadata as `CID_METADATA_KEY` */
  correlationId: string;
  /** main model (`type: main`, base `sdxl` or `sd-1`) */
  model: ModelRecordLike;
  /** a standalone VAE of the same base; when absent the loader's own VAE is used */
  vae?: ModelRecordLike | null;
  prompt: string;
  negativePrompt?: string | null;
  /** px, multiple of 8; for image-to-image it must equal the init image's width */
  width: number;
  /** px, multiple of 8; for image-to-image it must equal the init image's height */
  height: number;
  steps: number;
  cfgScale: number;
  scheduler: string;
  /** one seed per image (0..4294967295); see `expandSeeds` */
  seeds: number[];
  /** InvokeAI board_id the output images go to */
  boardId?: string | null;
}

/** Extra input of the image-to-image builder. */
export interface ImageToImageInput extends GenerationGraphInput {
  /** an image already uploaded to InvokeAI; px sizes multiples of 8 */
  initImage: { imageName: string; width: number; height: number };
  /** 0..1: how much of the init image is re-noised (`denoising_start = 1 − strength`) */
  strength: number;
}

/** Options of the builders. */
export interface GraphBuildOptions {
  /** the most images one batch may make (config `MAX_BATCH_SIZE`); default 10 */
  maxBatchSize?: number;
}

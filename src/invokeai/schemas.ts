/**
 * zod schemas for every InvokeAI response the client reads (reference §1–§5). Unknown fields are
 * kept (`looseObject`), optional fields accept both "missing" and `null` (InvokeAI drops nulls on
 * some routes and keeps them on others, reference §0).
 */
import { z } from 'zod';

const opt = <T extends z.ZodType>(t: T) => t.nullish();

/** `GET /api/v1/app/version` */
export const AppVersionSchema = z.looseObject({ version: z.string() });
export type AppVersion = z.infer<typeof AppVersionSchema>;

/** A main model's `default_settings` (every member optional). `vae` is a VAE model key. */
export const MainModelDefaultSettingsSchema = z.looseObject({
  vae: opt(z.string()),
  vae_precision: opt(z.string()),
  scheduler: opt(z.string()),
  steps: opt(z.number().int()),
  cfg_scale: opt(z.number()),
  cfg_rescale_multiplier: opt(z.number()),
  width: opt(z.number().int()),
  height: opt(z.number().int()),
  guidance: opt(z.number()),
});

/** One model config of `GET /api/v2/models/` (any type; only the common fields are typed). */
export const ModelConfigSchema = z.looseObject({
  key: z.string(),
  hash: z.string(),
  name: z.string(),
  type: z.string(),
  base: z.string(),
  format: opt(z.string()),
  description: opt(z.string()),
  // LoRA default_settings have another shape; only main models' are read.
  default_settings: opt(z.looseObject({})),
});
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

/** `GET /api/v2/models/` */
export const ModelsListSchema = z.looseObject({ models: z.array(ModelConfigSchema) });

/** A node input or batch value: scalar, `{image_name}`, or a list of those. */
const BatchItemSchema = z.unknown();

/** `BatchDatum` */
export const BatchDatumSchema = z.looseObject({
  node_path: z.string(),
  field_name: z.string(),
  items: z.array(BatchItemSchema).optional(),
});

/** `Batch` as echoed by enqueue (graph kept as an opaque object). */
export const BatchSchema = z.looseObject({
  batch_id: z.string(),
  origin: opt(z.string()),
  destination: opt(z.string()),
  data: opt(z.array(z.array(BatchDatumSchema))),
  graph: z.looseObject({}),
  runs: z.number().int(),
});

/** `POST /api/v1/queue/{queue_id}/enqueue_batch` → EnqueueBatchResult (the id is `batch.batch_id`). */
export const EnqueueBatchResultSchema = z.looseObject({
  queue_id: z.string(),
  enqueued: z.number().int(),
  requested: z.number().int(),
  batch: BatchSchema,
  priority: z.number().int(),
  /** newest first (descending) */
  item_ids: z.array(z.number().int()),
});
export type EnqueueBatchResult = z.infer<typeof EnqueueBatchResultSchema>;

/** Queue item statuses; `waiting` exists only on 6.14+. */
export const QueueItemStatusSchema = z.enum(['pending', 'in_progress', 'waiting', 'completed', 'failed', 'canceled']);
export type QueueItemStatus = z.infer<typeof QueueItemStatusSchema>;

/** An invocation output (`{type, image?: {image_name}, width?, height?, ...}`). */
export const InvocationOutputSchema = z.looseObject({
  type: z.string(),
  image: opt(z.looseObject({ image_name: z.string() })),
  width: opt(z.number()),
  height: opt(z.number()),
});

/** `GraphExecutionState`: results are keyed by PREPARED node ids. */
export const GraphExecutionStateSchema = z.looseObject({
  id: z.string(),
  graph: opt(z.looseObject({})),
  results: z.record(z.string(), InvocationOutputSchema).default({}),
  errors: z.record(z.string(), z.string()).default({}),
  prepared_source_mapping: z.record(z.string(), z.string()).default({}),
  /** source node id → prepared ids (a list: an iterate node can fan out) */
  source_prepared_mapping: z.record(z.string(), z.array(z.string())).default({}),
});

/** `field_values` entry: the batch value substituted into one item. */
export const NodeFieldValueSchema = z.looseObject({
  node_path: z.string(),
  field_name: z.string(),
  value: z.unknown(),
});

/** `SessionQueueItem` (`GET .../i/{id}`, `items_by_ids`, `list_all`). Timestamps are SQLite-style UTC strings. */
export const SessionQueueItemSchema = z.looseObject({
  item_id: z.number().int(),
  status: QueueItemStatusSchema,
  status_sequence: opt(z.number().int()),
  priority: z.number().int(),
  batch_id: z.string(),
  origin: opt(z.string()),
  destination: opt(z.string()),
  session_id: z.string(),
  error_type: opt(z.string()),
  error_message: opt(z.string()),
  error_traceback: opt(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
  started_at: opt(z.string()),
  completed_at: opt(z.string()),
  queue_id: z.string(),
  field_values: opt(z.array(NodeFieldValueSchema)),
  session: GraphExecutionStateSchema,
});
export type SessionQueueItem = z.infer<typeof SessionQueueItemSchema>;

/** `GET .../b/{batch_id}/status`: counts only (all zero for an unknown or pruned batch). */
export const BatchStatusSchema = z.looseObject({
  queue_id: z.string(),
  batch_id: z.string(),
  origin: opt(z.string()),
  destination: opt(z.string()),
  pending: z.number().int(),
  in_progress: z.number().int(),
  /** 6.14+; older servers omit it */
  waiting: z.number().int().default(0),
  completed: z.number().int(),
  failed: z.number().int(),
  canceled: z.number().int(),
  total: z.number().int(),
});
export type BatchStatus = z.infer<typeof BatchStatusSchema>;

/** `PUT .../cancel_by_batch_ids`, `.../cancel_by_destination` */
export const CancelResultSchema = z.looseObject({ canceled: z.number().int() });

/** `ImageDTO`. `image_url`/`thumbnail_url` are relative, without a leading slash. */
export const ImageDTOSchema = z.looseObject({
  image_name: z.string(),
  image_url: z.string(),
  thumbnail_url: z.string(),
  image_origin: z.string(),
  image_category: z.string(),
  /** px */
  width: z.number().int(),
  /** px */
  height: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
  is_intermediate: z.boolean(),
  session_id: opt(z.string()),
  node_id: opt(z.string()),
  starred: z.boolean().optional(),
  has_workflow: z.boolean().optional(),
  board_id: opt(z.string()),
});
export type ImageDTO = z.infer<typeof ImageDTOSchema>;

/** `GET /api/v1/images/` → OffsetPaginatedResults[ImageDTO] */
export const ImageListSchema = z.looseObject({
  limit: z.number().int(),
  offset: z.number().int(),
  total: z.number().int(),
  items: z.array(ImageDTOSchema),
});
export type ImageList = z.infer<typeof ImageListSchema>;

/** `GET /api/v1/images/i/{name}/metadata`: the core_metadata dict, or `null`. */
export const ImageMetadataSchema = z.record(z.string(), z.unknown()).nullable();

/** `BoardDTO` */
export const BoardDTOSchema = z.looseObject({
  board_id: z.string(),
  board_name: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  image_count: z.number().int().optional(),
  archived: z.boolean().optional(),
});
export type BoardDTO = z.infer<typeof BoardDTOSchema>;

/** FastAPI error body: `detail` is a string, or the 422 array. */
export const ErrorBodySchema = z.looseObject({
  detail: z.union([
    z.string(),
    z.array(
      z.looseObject({
        type: z.string(),
        loc: z.array(z.union([z.string(), z.number()])),
        msg: z.string(),
        input: z.unknown().optional(),
        ctx: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
  ]),
});

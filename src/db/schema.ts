/**
 * The database schema: every table of the seed schema (shared/seeds/000), plus the few columns and
 * tables this project adds. Each addition and its reason is listed in `migrations/README.md`.
 *
 * SQL migrations in `migrations/` are generated from this file with `npm run db:generate`
 * (drizzle-kit) and applied at start-up by `runMigrations()` in `src/db/migrate.ts`.
 */
import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => tstz('created_at').default(sql`CURRENT_TIMESTAMP`);

/** Photos, uploaded and generated. A generated photo tracks its retrieval from InvokeAI. */
export const photos = pgTable(
  'photos',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    filename: text('filename').notNull().unique(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    /** bytes */
    fileSize: bigint('file_size', { mode: 'number' }).notNull(),
    mimeType: text('mime_type').notNull(),
    createdAt: createdAt(),

    isGenerated: boolean('is_generated').default(false),
    generationPrompt: text('generation_prompt'),
    generationNegativePrompt: text('generation_negative_prompt'),
    generationParams: jsonb('generation_params').$type<Record<string, unknown>>(),
    sourceImageId: uuid('source_image_id').references((): AnyPgColumn => photos.id),

    /** InvokeAI image_name */
    invokeId: text('invoke_id'),
    modelKey: text('model_key'),
    modelHash: text('model_hash'),
    modelName: text('model_name'),

    lastAccessedAt: tstz('last_accessed_at'),
    deletedAt: tstz('deleted_at'),

    localStoragePath: text('local_storage_path'),
    localThumbnailPath: text('local_thumbnail_path'),

    retrievalStatus: text('retrieval_status').default('completed'),
    retrievalAttempts: integer('retrieval_attempts').default(0),
    lastRetrievalAttempt: tstz('last_retrieval_attempt'),
    retrievalError: text('retrieval_error'),

    // Additions (migrations/README.md)
    /** sha256 of the original bytes, lowercase hex (seed 002's file_hash) */
    fileHash: text('file_hash'),
    /** the client's filename, metadata only, never a path */
    originalFilename: text('original_filename'),
    /** set when the trash purge removed the files but kept the row (still referenced by a step) */
    purgedAt: tstz('purged_at'),
  },
  (t) => [
    check(
      'photos_retrieval_status_check',
      sql`${t.retrievalStatus} IN ('pending', 'processing', 'completed', 'failed')`,
    ),
    index('idx_photos_retrieval_status').on(t.retrievalStatus).where(sql`${t.retrievalStatus} != 'completed'`),
    index('idx_photos_deleted_at').on(t.deletedAt).where(sql`${t.deletedAt} IS NOT NULL`),
    uniqueIndex('idx_photos_invoke_id').on(t.invokeId).where(sql`${t.invokeId} IS NOT NULL`),
    index('idx_photos_generation_prompt').using('gin', sql`to_tsvector('english', ${t.generationPrompt})`),
    uniqueIndex('idx_photos_file_hash').on(t.fileHash).where(sql`${t.fileHash} IS NOT NULL`),
    index('idx_photos_created_at_id').on(t.createdAt.desc(), t.id.desc()),
  ],
);

export const albums = pgTable('albums', {
  id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
  name: text('name').notNull(),
  description: text('description'),
  createdAt: createdAt(),
  updatedAt: tstz('updated_at').default(sql`CURRENT_TIMESTAMP`),
  coverPhotoId: uuid('cover_photo_id').references(() => photos.id),
});

export const albumPhotos = pgTable(
  'album_photos',
  {
    albumId: uuid('album_id').references(() => albums.id, { onDelete: 'cascade' }),
    photoId: uuid('photo_id').references(() => photos.id, { onDelete: 'cascade' }),
    addedAt: tstz('added_at').default(sql`CURRENT_TIMESTAMP`),
    position: integer('position'),
  },
  (t) => [
    primaryKey({ columns: [t.albumId, t.photoId] }),
    index('idx_album_photos_position').on(t.albumId, t.position),
  ],
);

export const sharedLinks = pgTable(
  'shared_links',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    photoId: uuid('photo_id').references(() => photos.id),
    albumId: uuid('album_id').references(() => albums.id),
    accessKey: text('access_key').notNull().unique(),
    expiresAt: tstz('expires_at'),
    createdAt: createdAt(),
    lastAccessedAt: tstz('last_accessed_at'),
  },
  (t) => [
    check(
      'share_target_check',
      sql`(${t.photoId} IS NOT NULL AND ${t.albumId} IS NULL) OR (${t.photoId} IS NULL AND ${t.albumId} IS NOT NULL)`,
    ),
    index('idx_shared_links_access_key').on(t.accessKey),
    index('idx_shared_links_expires_at').on(t.expiresAt).where(sql`${t.expiresAt} IS NOT NULL`),
  ],
);

export const generationSessions = pgTable(
  'generation_sessions',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    startedAt: tstz('started_at').default(sql`CURRENT_TIMESTAMP`),
    completedAt: tstz('completed_at'),
    entryType: text('entry_type').notNull(),
    sourceImageId: uuid('source_image_id').references(() => photos.id),
    status: text('status').notNull().default('active'),

    // Additions (migrations/README.md)
    /** Temporal workflow id, `generation-session/<id>` */
    workflowId: text('workflow_id'),
    /** InvokeAI board_id holding this session's images, once created */
    boardId: text('board_id'),
    /** InvokeAI image_name of the refinement source once uploaded (uploaded once per session) */
    sourceInvokeImageName: text('source_invoke_image_name'),
  },
  (t) => [
    check('generation_sessions_entry_type_check', sql`${t.entryType} IN ('scratch', 'refinement')`),
    check('generation_sessions_status_check', sql`${t.status} IN ('active', 'completed', 'abandoned')`),
    index('idx_generation_sessions_status').on(t.status),
  ],
);

export const generationSteps = pgTable(
  'generation_steps',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => generationSessions.id, { onDelete: 'cascade' }),
    parentId: uuid('parent_id').references((): AnyPgColumn => generationSteps.id, { onDelete: 'set null' }),
    prompt: text('prompt').notNull(),
    negativePrompt: text('negative_prompt'),
    parameters: jsonb('parameters').$type<Record<string, unknown>>().notNull(),

    modelKey: text('model_key').notNull(),
    modelHash: text('model_hash').notNull(),
    modelName: text('model_name'),
    /** InvokeAI batch_id, chosen by us before enqueueing */
    batchId: text('batch_id').notNull(),
    /** the CID marker written into core_metadata */
    correlationId: text('correlation_id'),

    selectedImageId: uuid('selected_image_id').references(() => photos.id),
    createdAt: createdAt(),
    completedAt: tstz('completed_at'),
    position: integer('position').notNull(),
    status: text('status').notNull().default('pending'),
    errorMessage: text('error_message'),

    batchSize: integer('batch_size').default(1),
    imagesRetrieved: integer('images_retrieved').default(0),
    imagesFailed: integer('images_failed').default(0),

    // Additions (migrations/README.md)
    /** InvokeAI queue item ids returned by enqueue_batch */
    itemIds: jsonb('item_ids').$type<number[]>(),
    /** `{items_done, items_total, denoise?: 0..1, stage}` published by the wait activity */
    progress: jsonb('progress').$type<Record<string, unknown>>(),
    /** InvokeAI image_name of the init image for image-to-image steps */
    initImageName: text('init_image_name'),
  },
  (t) => [
    check('generation_steps_status_check', sql`${t.status} IN ('pending', 'processing', 'completed', 'failed')`),
    index('idx_generation_steps_session').on(t.sessionId, t.position),
    index('idx_generation_steps_parent').on(t.parentId),
    index('idx_generation_steps_status').on(t.status).where(sql`${t.status} IN ('pending', 'processing')`),
    uniqueIndex('idx_generation_steps_batch_id').on(t.batchId),
    index('idx_generation_steps_correlation_id').on(t.correlationId).where(sql`${t.correlationId} IS NOT NULL`),
  ],
);

export const stepAlternatives = pgTable(
  'step_alternatives',
  {
    stepId: uuid('step_id')
      .notNull()
      .references(() => generationSteps.id, { onDelete: 'cascade' }),
    imageId: uuid('image_id')
      .notNull()
      .references(() => photos.id, { onDelete: 'cascade' }),
    selected: boolean('selected').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.stepId, t.imageId] }),
    index('idx_step_alternatives_step').on(t.stepId),
    index('idx_step_alternatives_selected').on(t.stepId, t.selected).where(sql`${t.selected} = TRUE`),
  ],
);

export const models = pgTable(
  'models',
  {
    key: text('key').primaryKey(),
    hash: text('hash').notNull(),
    name: text('name').notNull(),
    type: text('type').notNull(),
    base: text('base').notNull(),
    description: text('description'),

    defaultWidth: integer('default_width'),
    defaultHeight: integer('default_height'),
    defaultSteps: integer('default_steps'),
    defaultCfgScale: numeric('default_cfg_scale', { precision: 5, scale: 2, mode: 'number' }),
    defaultScheduler: text('default_scheduler'),

    compatibleWithBase: text('compatible_with_base'),
    isDefaultVae: boolean('is_default_vae').default(false),

    cachedAt: tstz('cached_at').default(sql`CURRENT_TIMESTAMP`),

    isFavorite: boolean('is_favorite').default(false),
    lastUsedAt: tstz('last_used_at'),

    // Additions (migrations/README.md)
    /** the model's `default_settings.vae` (a VAE key), when InvokeAI names one */
    defaultVaeKey: text('default_vae_key'),
    /** set when the model disappeared from InvokeAI; cleared when it comes back */
    missingAt: tstz('missing_at'),
  },
  (t) => [
    index('idx_models_type').on(t.type),
    index('idx_models_base').on(t.base),
    index('idx_models_compatible_base').on(t.compatibleWithBase).where(sql`${t.compatibleWithBase} IS NOT NULL`),
    index('idx_models_favorite').on(t.isFavorite).where(sql`${t.isFavorite} = TRUE`),
  ],
);

export const promptTemplates = pgTable(
  'prompt_templates',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    name: text('name').notNull(),
    description: text('description'),
    promptText: text('prompt_text').notNull(),
    negativePrompt: text('negative_prompt'),
    category: text('category'),
    isFavorite: boolean('is_favorite').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: tstz('updated_at').default(sql`CURRENT_TIMESTAMP`),
  },
  (t) => [
    index('idx_prompt_templates_favorite').on(t.isFavorite).where(sql`${t.isFavorite} = TRUE`),
    index('idx_prompt_templates_category').on(t.category),
  ],
);

/** Aspect ratio presets stored in application_settings.aspect_ratios. */
export type AspectRatio = { name: string; width: number; height: number };

export const applicationSettings = pgTable(
  'application_settings',
  {
    id: integer('id').primaryKey(),

    aspectRatios: jsonb('aspect_ratios')
      .$type<AspectRatio[]>()
      .default(
        sql`'[{"name": "Square (1:1)", "width": 1024, "height": 1024}, {"name": "Portrait (2:3)", "width": 832, "height": 1216}, {"name": "Landscape (3:2)", "width": 1216, "height": 832}]'::jsonb`,
      ),
    defaultSteps: integer('default_steps').notNull().default(30),
    defaultCfgScale: numeric('default_cfg_scale', { precision: 4, scale: 2, mode: 'number' }).notNull().default(7.5),
    defaultScheduler: text('default_scheduler').notNull().default('euler'),
    defaultBatchSize: integer('default_batch_size').notNull().default(4),

    backendMode: text('backend_mode').notNull().default('local'),
    localBackendUrl: text('local_backend_url').notNull().default('http://localhost:9090'),
    remoteBackendUrl: text('remote_backend_url'),
    runpodApiKey: text('runpod_api_key'),
    runpodPodType: text('runpod_pod_type').default('NVIDIA A5000'),
    idleTimeoutMinutes: integer('idle_timeout_minutes').default(30),

    isConnected: boolean('is_connected').default(false),
    lastConnectedAt: tstz('last_connected_at'),
    apiVersion: text('api_version'),

    currentSessionId: text('current_session_id'),
    currentSessionStart: tstz('current_session_start'),
    /** USD */
    currentSessionCost: numeric('current_session_cost', { precision: 10, scale: 4, mode: 'number' }).default(0),
    lifetimeUsageHours: numeric('lifetime_usage_hours', { precision: 10, scale: 2, mode: 'number' }).default(0),
    /** USD */
    lifetimeCost: numeric('lifetime_cost', { precision: 10, scale: 2, mode: 'number' }).default(0),

    maxRetrievalAttempts: integer('max_retrieval_attempts').default(5),
    /** seconds */
    retrievalRetryDelay: integer('retrieval_retry_delay').default(60),
    parallelRetrievals: integer('parallel_retrievals').default(3),

    settingsJson: jsonb('settings_json').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    updatedAt: tstz('updated_at').default(sql`CURRENT_TIMESTAMP`),
  },
  (t) => [
    check('singleton_settings', sql`${t.id} = 1`),
    check('check_backend_mode', sql`${t.backendMode} IN ('local', 'remote')`),
  ],
);

// ---------------------------------------------------------------------------------------------
// Tables this project adds (migrations/README.md)

/**
 * One row per RunPod pod lifetime: what it cost, to the cent. Written by the pod workflow's
 * activities; `cost_per_hr` is RunPod's billed `cost` (USD/h) as read from the pod.
 */
export const podSessions = pgTable(
  'pod_sessions',
  {
    /** the pod workflow's uuid (`runpod-pod/<id>`) */
    id: uuid('id').primaryKey(),
    workflowId: text('workflow_id').notNull().unique(),
    podId: text('pod_id'),
    gpuTypeId: text('gpu_type_id'),
    /** USD per hour, as billed */
    costPerHr: numeric('cost_per_hr', { precision: 10, scale: 4, mode: 'number' }),
    /** where costPerHr came from: 'pod' | 'catalog' | 'seed-table' */
    costSource: text('cost_source'),
    state: text('state').notNull().default('creating'),
    startedAt: tstz('started_at'),
    readyAt: tstz('ready_at'),
    stoppedAt: tstz('stopped_at'),
    /** USD, final once stopped_at is set */
    costUsd: numeric('cost_usd', { precision: 10, scale: 4, mode: 'number' }).default(0),
    createdAt: createdAt(),
    lastError: text('last_error'),
  },
  (t) => [index('idx_pod_sessions_state').on(t.state)],
);

/**
 * `Idempotency-Key` header → the resource a POST created, so a retried HTTP call returns the
 * same session or step instead of a second one.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    key: text('key').notNull(),
    /** e.g. 'POST /api/generation/sessions' */
    scope: text('scope').notNull(),
    resourceId: uuid('resource_id').notNull(),
    /** sha256 of the request body, to refuse the same key with another body */
    requestHash: text('request_hash'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] })],
);

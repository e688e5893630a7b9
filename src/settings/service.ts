/**
 * The `application_settings` singleton (id = 1): reading it, changing it (`PATCH /api/settings`,
 * validated against the seed's columns and checks), its API view (the RunPod key is write-only),
 * and the rules that combine it with the environment.
 */
import { eq, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { applicationSettings } from '../db/schema.js';
import { AppError } from '../errors.js';
import { CFG_SCALE_LIMITS, SIZE_LIMITS, STEPS_LIMITS } from '../invokeai/graphs/parameters.js';
import { SCHEDULERS } from '../invokeai/graphs/types.js';

/** The settings row as drizzle returns it (camelCase fields). */
export type Settings = typeof applicationSettings.$inferSelect;

/**
 * Reads the settings row; creates it with the seed defaults if it is somehow missing.
 * @throws the database error
 */
export async function getSettings(db: Db): Promise<Settings> {
  const rows = await db.select().from(applicationSettings).where(eq(applicationSettings.id, 1));
  if (rows[0]) return rows[0];
  await db.insert(applicationSettings).values({ id: 1 }).onConflictDoNothing();
  return (await db.select().from(applicationSettings).where(eq(applicationSettings.id, 1)))[0]!;
}

/**
 * The local InvokeAI base URL: `INVOKEAI_LOCAL_URL` when set in the environment, otherwise the
 * settings' `local_backend_url` (seed default `http://localhost:9090`).
 */
export function invokeaiLocalUrl(settings: Pick<Settings, 'localBackendUrl'>, config: Pick<Config, 'INVOKEAI_LOCAL_URL'>): string {
  return config.INVOKEAI_LOCAL_URL ?? settings.localBackendUrl;
}

/** Bounds of `aspect_ratios` entries, px: the widest range any supported base accepts (multiples of 8). */
const RATIO_SIDE = { min: Math.min(...Object.values(SIZE_LIMITS).map((l) => l.min)), max: Math.max(...Object.values(SIZE_LIMITS).map((l) => l.max)) };
const side = z.number().int().min(RATIO_SIDE.min).max(RATIO_SIDE.max).multipleOf(8, 'must be a multiple of 8');
const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2000);

/**
 * The fields `PATCH /api/settings` may change, with the seed's checks (and the generation limits).
 * Unknown and read-only fields (`is_connected`, costs, `updated_at`…) are refused.
 * @param maxBatchSize config `MAX_BATCH_SIZE`, the ceiling of `default_batch_size`
 */
export function settingsPatchSchema(maxBatchSize: number) {
  return z.strictObject({
    aspect_ratios: z.array(z.strictObject({ name: z.string().trim().min(1).max(50), width: side, height: side })).min(1).max(30).optional(),
    default_steps: z.number().int().min(STEPS_LIMITS.min).max(STEPS_LIMITS.max).optional(),
    default_cfg_scale: z.number().min(CFG_SCALE_LIMITS.min).max(CFG_SCALE_LIMITS.max).optional(),
    default_scheduler: z.enum(SCHEDULERS).optional(),
    default_batch_size: z.number().int().min(1).max(maxBatchSize).optional(),
    backend_mode: z.enum(['local', 'remote']).optional(),
    local_backend_url: httpUrl.optional(),
    remote_backend_url: httpUrl.nullable().optional(),
    /** write-only */
    runpod_api_key: z.string().trim().min(1).max(500).nullable().optional(),
    runpod_pod_type: z.string().trim().min(1).max(100).optional(),
    idle_timeout_minutes: z.number().int().min(1).max(24 * 60).optional(),
    max_retrieval_attempts: z.number().int().min(1).max(100).optional(),
    /** seconds */
    retrieval_retry_delay: z.number().int().min(1).max(86_400).optional(),
    parallel_retrievals: z.number().int().min(1).max(32).optional(),
    settings_json: z.record(z.string(), z.unknown()).optional(),
  });
}

/** A parsed `PATCH /api/settings` body. */
export type SettingsPatch = z.infer<ReturnType<typeof settingsPatchSchema>>;

/**
 * Applies `patch` to the settings row (`updated_at` moves) and returns the new row. `settings_json`
 * is merged into the stored object (top-level keys replaced), not substituted for it.
 * @throws AppError `internal_error` when the database refuses; the message never carries the values
 *   (a driver error would quote the RunPod key among the query parameters)
 */
export async function updateSettings(db: Db, patch: SettingsPatch): Promise<Settings> {
  await getSettings(db);
  const set: PgUpdateSetSource<typeof applicationSettings> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value !== undefined) (set as Record<string, unknown>)[camel(key)] = value;
  }
  if (patch.settings_json) {
    // Merged key by key, so a client setting its own keys keeps the server's (e.g. session_history_events).
    set.settingsJson = sql`${applicationSettings.settingsJson} || ${JSON.stringify(patch.settings_json)}::jsonb`;
  }
  try {
    const [row] = await db
      .update(applicationSettings)
      .set({ ...set, updatedAt: sql`clock_timestamp()` })
      .where(eq(applicationSettings.id, 1))
      .returning();
    return row!;
  } catch (err) {
    const code = (err as { cause?: { code?: string }; code?: string }).cause?.code ?? (err as { code?: string }).code;
    throw new AppError('internal_error', `could not save the settings (database error ${code ?? 'unknown'})`);
  }
}

/**
 * The settings as the API shows them: snake_case, ISO timestamps, and `runpod_api_key_set`
 * instead of the key, which never leaves the server.
 */
export function settingsView(s: Settings) {
  return {
    aspect_ratios: s.aspectRatios ?? [],
    default_steps: s.defaultSteps,
    default_cfg_scale: s.defaultCfgScale,
    default_scheduler: s.defaultScheduler,
    default_batch_size: s.defaultBatchSize,
    backend_mode: s.backendMode as 'local' | 'remote',
    local_backend_url: s.localBackendUrl,
    remote_backend_url: s.remoteBackendUrl,
    runpod_api_key_set: Boolean(s.runpodApiKey),
    runpod_pod_type: s.runpodPodType,
    idle_timeout_minutes: s.idleTimeoutMinutes,
    is_connected: s.isConnected ?? false,
    last_connected_at: s.lastConnectedAt?.toISOString() ?? null,
    api_version: s.apiVersion,
    current_session_id: s.currentSessionId,
    current_session_start: s.currentSessionStart?.toISOString() ?? null,
    current_session_cost: s.currentSessionCost,
    lifetime_usage_hours: s.lifetimeUsageHours,
    lifetime_cost: s.lifetimeCost,
    max_retrieval_attempts: s.maxRetrievalAttempts,
    retrieval_retry_delay: s.retrievalRetryDelay,
    parallel_retrievals: s.parallelRetrievals,
    settings_json: s.settingsJson,
    updated_at: s.updatedAt?.toISOString() ?? null,
  };
}

/** The JSON of `GET /api/settings`. */
export type SettingsView = ReturnType<typeof settingsView>;

function camel(snake: string): string {
  return snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

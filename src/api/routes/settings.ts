/**
 * `/api/settings`: read and change the application settings. `runpod_api_key` is write-only: it
 * is accepted by PATCH and shown only as `runpod_api_key_set`.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { getSettings, settingsPatchSchema, settingsView, updateSettings } from '../../settings/service.js';
import { errorResponses, type App, type AppDeps } from '../http.js';

const SettingsSchema = z
  .object({
    aspect_ratios: z.array(z.object({ name: z.string(), width: z.number().int(), height: z.number().int() })),
    default_steps: z.number().int(),
    default_cfg_scale: z.number(),
    default_scheduler: z.string(),
    default_batch_size: z.number().int(),
    backend_mode: z.enum(['local', 'remote']),
    local_backend_url: z.string(),
    remote_backend_url: z.string().nullable(),
    runpod_api_key_set: z.boolean().openapi({ description: 'whether a RunPod API key is stored; the key itself is never returned' }),
    runpod_pod_type: z.string().nullable(),
    idle_timeout_minutes: z.number().int().nullable(),
    is_connected: z.boolean(),
    last_connected_at: z.string().nullable(),
    api_version: z.string().nullable(),
    current_session_id: z.string().nullable(),
    current_session_start: z.string().nullable(),
    current_session_cost: z.number().nullable().openapi({ description: 'USD' }),
    lifetime_usage_hours: z.number().nullable(),
    lifetime_cost: z.number().nullable().openapi({ description: 'USD' }),
    max_retrieval_attempts: z.number().int().nullable(),
    retrieval_retry_delay: z.number().int().nullable().openapi({ description: 'seconds' }),
    parallel_retrievals: z.number().int().nullable(),
    settings_json: z.record(z.string(), z.unknown()),
    updated_at: z.string().nullable(),
  })
  .openapi('Settings');

/** Registers `GET` and `PATCH /api/settings`. */
export function registerSettingsRoutes(app: App, deps: AppDeps): void {
  const { db } = deps.database;
  const Patch = settingsPatchSchema(deps.config.MAX_BATCH_SIZE).openapi('SettingsPatch', {
    description: 'Only the fields to change. Unknown or read-only fields → 400. `runpod_api_key` is write-only (null clears it).',
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/settings',
      tags: ['settings'],
      summary: 'The application settings',
      responses: { 200: { description: 'Settings', content: { 'application/json': { schema: SettingsSchema } } } },
    }),
    async (c) => c.json(settingsView(await getSettings(db)), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/settings',
      tags: ['settings'],
      summary: 'Change settings',
      request: { body: { required: true, content: { 'application/json': { schema: Patch } } } },
      responses: { 200: { description: 'The new settings', content: { 'application/json': { schema: SettingsSchema } } }, ...errorResponses(400) },
    }),
    async (c) => c.json(settingsView(await updateSettings(db, c.req.valid('json'))), 200),
  );
}

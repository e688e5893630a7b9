/**
 * `/api/models`: the model cache (main models and VAEs mirrored from InvokeAI), its refresh,
 * favourites, and the VAEs that fit a model.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { models } from '../../db/schema.js';
import { AppError, notFound } from '../../errors.js';
import { backendUrl } from '../../generation/backend.js';
import { getInvokeAIClient } from '../../invokeai/client.js';
import { InvokeAIConnectionError, InvokeAIError, InvokeAITimeoutError } from '../../invokeai/errors.js';
import { compatibleVaes, defaultVaeForModel, getModel, listModels, type ModelRow } from '../../models/queries.js';
import { refreshModels } from '../../models/refresh.js';
import { iso } from '../../photos/view.js';
import { getSettings } from '../../settings/service.js';
import { errorResponses, type App, type AppDeps } from '../http.js';

const ModelSchema = z
  .object({
    key: z.string(),
    hash: z.string(),
    name: z.string(),
    type: z.string().openapi({ example: 'main' }),
    base: z.string().openapi({ example: 'sdxl' }),
    description: z.string().nullable(),
    default_width: z.number().int().nullable(),
    default_height: z.number().int().nullable(),
    default_steps: z.number().int().nullable(),
    default_cfg_scale: z.number().nullable(),
    default_scheduler: z.string().nullable(),
    default_vae_key: z.string().nullable(),
    compatible_with_base: z.string().nullable(),
    is_default_vae: z.boolean(),
    is_favorite: z.boolean(),
    last_used_at: z.string().nullable(),
    cached_at: z.string().nullable(),
    missing_at: z.string().nullable().openapi({ description: 'set when InvokeAI no longer lists the model' }),
  })
  .openapi('Model');

const KeyParam = z.object({ key: z.string().min(1).max(200).openapi({ param: { name: 'key', in: 'path' }, description: 'InvokeAI model key' }) });
const ListQuery = z.object({
  type: z.enum(['main', 'vae']).default('main'),
  base: z.string().min(1).max(50).optional().openapi({ example: 'sdxl' }),
});
const ModelList = z.object({ items: z.array(ModelSchema) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  list: createRoute({
    method: 'get',
    path: '/api/models',
    tags: ['models'],
    summary: 'Cached models of a type (favourites first), optionally of one base',
    request: { query: ListQuery },
    responses: { 200: json(ModelList, 'Models'), ...errorResponses(400) },
  }),
  refresh: createRoute({
    method: 'post',
    path: '/api/models/refresh',
    tags: ['models'],
    summary: "Refresh the cache from the backend's model list",
    responses: {
      200: json(
        z
          .object({ upserted: z.number().int(), missing: z.number().int(), returned: z.number().int(), default_vaes: z.record(z.string(), z.string()) })
          .openapi('ModelRefresh'),
        'What changed',
      ),
      502: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'InvokeAI could not be read'),
      ...errorResponses(503),
    },
  }),
  favorite: createRoute({
    method: 'post',
    path: '/api/models/{key}/favorite',
    tags: ['models'],
    summary: 'Mark a model as favourite',
    request: { params: KeyParam },
    responses: { 200: json(ModelSchema, 'The model'), ...errorResponses(404) },
  }),
  unfavorite: createRoute({
    method: 'delete',
    path: '/api/models/{key}/favorite',
    tags: ['models'],
    summary: 'Unmark a favourite model',
    request: { params: KeyParam },
    responses: { 200: json(ModelSchema, 'The model'), ...errorResponses(404) },
  }),
  vaes: createRoute({
    method: 'get',
    path: '/api/models/{key}/vaes',
    tags: ['models'],
    summary: "VAEs compatible with a model's base, the default first",
    request: { params: KeyParam },
    responses: { 200: json(ModelList, 'VAEs'), ...errorResponses(404) },
  }),
};

/** Registers the `/api/models` routes. */
export function registerModelRoutes(app: App, deps: AppDeps): void {
  const { db } = deps.database;

  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    return c.json({ items: (await listModels(db, { type: q.type, base: q.base })).map(modelView) }, 200);
  });

  app.openapi(routes.refresh, async (c) => {
    const url = backendUrl(await getSettings(db), deps.config);
    if (!url) throw new AppError('unavailable', 'remote mode and no pod is running: start the backend first');
    try {
      const r = await refreshModels(db, getInvokeAIClient(url));
      return c.json({ upserted: r.upserted, missing: r.missing, returned: r.returned, default_vaes: r.defaultVaes }, 200);
    } catch (err) {
      if (err instanceof InvokeAIConnectionError || err instanceof InvokeAITimeoutError) {
        throw new AppError('invokeai_connection_error', `InvokeAI at ${url} could not be reached: ${err.message}`);
      }
      if (err instanceof InvokeAIError) throw new AppError('invokeai_error', err.message);
      throw err;
    }
  });

  const setFavorite = async (key: string, favorite: boolean) => {
    const [row] = await db.update(models).set({ isFavorite: favorite }).where(eq(models.key, key)).returning();
    if (!row) throw notFound('model', key);
    return modelView(row);
  };
  app.openapi(routes.favorite, async (c) => c.json(await setFavorite(c.req.valid('param').key, true), 200));
  app.openapi(routes.unfavorite, async (c) => c.json(await setFavorite(c.req.valid('param').key, false), 200));

  app.openapi(routes.vaes, async (c) => {
    const { key } = c.req.valid('param');
    const model = await getModel(db, key);
    if (!model) throw notFound('model', key);
    const vaes = await compatibleVaes(db, model.base);
    // The model's own default (default_settings.vae) goes before the base's default.
    const own = await defaultVaeForModel(db, model);
    const ordered = own ? [own, ...vaes.filter((v) => v.key !== own.key)] : vaes;
    return c.json({ items: ordered.map(modelView) }, 200);
  });
}

function modelView(m: ModelRow) {
  return {
    key: m.key,
    hash: m.hash,
    name: m.name,
    type: m.type,
    base: m.base,
    description: m.description,
    default_width: m.defaultWidth,
    default_height: m.defaultHeight,
    default_steps: m.defaultSteps,
    default_cfg_scale: m.defaultCfgScale,
    default_scheduler: m.defaultScheduler,
    default_vae_key: m.defaultVaeKey,
    compatible_with_base: m.compatibleWithBase,
    is_default_vae: m.isDefaultVae ?? false,
    is_favorite: m.isFavorite ?? false,
    last_used_at: iso(m.lastUsedAt),
    cached_at: iso(m.cachedAt),
    missing_at: iso(m.missingAt),
  };
}

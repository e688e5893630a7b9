/**
 * The Hono application: middleware (request id, request log, CORS, bearer auth, JSON body limit),
 * the error mapping (one place), the routes of every feature, and the OpenAPI document generated
 * from the same zod schemas that validate requests.
 */
import { Scalar } from '@scalar/hono-api-reference';
import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { AppError } from '../errors.js';
import { newApp, type App, type AppDeps } from './http.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerGenerationRoutes } from './routes/generation.js';
import { registerAlbumRoutes } from './routes/albums.js';
import { registerBackendRoutes } from './routes/backend.js';
import { registerModelRoutes } from './routes/models.js';
import { registerPhotoRoutes } from './routes/photos.js';
import { registerSettingsRoutes } from './routes/settings.js';
import { registerShareRoutes } from './routes/shares.js';
import { registerTemplateRoutes } from './routes/templates.js';

/** JSON request bodies above this many bytes answer 413. Uploads have their own limit. */
const JSON_BODY_LIMIT = 1024 * 1024;

/** Route modules, in registration order. Each adds its routes to the app. */
const ROUTE_MODULES: Array<(app: App, deps: AppDeps) => void> = [
  registerGenerationRoutes,
  registerHealthRoutes,
  registerPhotoRoutes,
  registerAlbumRoutes,
  registerShareRoutes,
  registerTemplateRoutes,
  registerSettingsRoutes,
  registerModelRoutes,
  registerBackendRoutes,
];

/**
 * Builds the app. `extraRoutes` lets a feature register without editing this file's imports in tests.
 */
export function createApp(deps: AppDeps, extraRoutes: Array<(app: App, deps: AppDeps) => void> = []): App {
  const app = newApp();
  const { config, logger } = deps;

  app.use('*', requestId({ headerName: 'X-Request-Id' }));
  app.use('*', async (c, next) => {
    const log = logger.child({ request_id: c.get('requestId') });
    c.set('log', log);
    const t0 = performance.now();
    await next();
    log.info(
      { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - t0) },
      'request',
    );
  });
  if (config.CORS_ORIGINS.length > 0) {
    app.use('*', cors({ origin: config.CORS_ORIGINS, exposeHeaders: ['X-Request-Id', 'X-Duplicate'], credentials: true }));
  }
  if (config.API_TOKEN) {
    const token = config.API_TOKEN;
    app.use('/api/*', async (c, next) => {
      if (c.req.path === '/api/health' || c.req.method === 'OPTIONS') return next();
      if (c.req.header('authorization') !== `Bearer ${token}`) {
        throw new AppError('unauthorized', 'missing or wrong bearer token');
      }
      return next();
    });
  }
  app.use('/api/*', async (c, next) => {
    if (c.req.header('content-type')?.startsWith('multipart/')) return next();
    return bodyLimit({
      maxSize: JSON_BODY_LIMIT,
      onError: () => {
        throw new AppError('payload_too_large', `request body larger than ${JSON_BODY_LIMIT} bytes`);
      },
    })(c, next);
  });

  app.onError((err, c) => {
    if (err instanceof AppError) {
      if (err.status >= 500) c.get('log')?.error({ err }, 'request failed');
      return c.json({ error: { code: err.code, message: err.message, ...err.details } }, err.status as 400);
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const code = status === 413 ? 'payload_too_large' : status === 401 ? 'unauthorized' : status < 500 ? 'validation_error' : 'internal_error';
      return c.json({ error: { code, message: err.message || 'bad request' } }, status);
    }
    (c.get('log') ?? logger).error({ err }, 'unhandled error');
    return c.json({ error: { code: 'internal_error', message: 'internal error' } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  for (const register of [...ROUTE_MODULES, ...extraRoutes]) register(app, deps);

  app.doc31('/api/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'photo-gallery API',
      version: '0.1.0',
      description: 'Self-hosted AI photo gallery: photos, albums, share links, generation sessions (InvokeAI via Temporal), RunPod backend.',
    },
  });
  app.get('/api/docs', Scalar({ url: '/api/openapi.json', pageTitle: 'photo-gallery API' }));
  return app;
}

/**
 * `GET /api/health`: PostgreSQL, Temporal and InvokeAI, each with what was measured. 503 when
 * PostgreSQL or Temporal is down; InvokeAI being absent is reported, not fatal.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { request } from 'undici';
import type { App, AppDeps } from '../http.js';
import { getSettings, invokeaiLocalUrl } from '../../settings/service.js';

const Health = z
  .object({
    status: z.enum(['ok', 'degraded']),
    database: z.object({ ok: z.boolean(), latency_ms: z.number().optional(), error: z.string().optional() }),
    temporal: z.object({ ok: z.boolean(), namespace: z.string(), error: z.string().optional() }),
    invokeai: z.object({ ok: z.boolean(), url: z.string().nullable(), version: z.string().optional(), error: z.string().optional() }),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/api/health',
  tags: ['health'],
  summary: 'Health of the database, Temporal and InvokeAI',
  responses: {
    200: { description: 'PostgreSQL and Temporal answer', content: { 'application/json': { schema: Health } } },
    503: { description: 'PostgreSQL or Temporal is down', content: { 'application/json': { schema: Health } } },
  },
});

/** Registers `GET /api/health`. */
export function registerHealthRoutes(app: App, deps: AppDeps): void {
  app.openapi(route, async (c) => {
    const [database, temporal] = await Promise.all([checkDatabase(deps), checkTemporal(deps)]);
    const invokeai = database.ok ? await checkInvokeAI(deps) : { ok: false, url: null, error: 'database down' };
    const ok = database.ok && temporal.ok;
    const body = { status: ok ? ('ok' as const) : ('degraded' as const), database, temporal, invokeai };
    return ok ? c.json(body, 200) : c.json(body, 503);
  });
}

async function checkDatabase({ database }: AppDeps) {
  const t0 = performance.now();
  try {
    await withTimeout(database.sql`SELECT 1`, 3000);
    return { ok: true, latency_ms: Math.round((performance.now() - t0) * 100) / 100 };
  } catch (err) {
    return { ok: false, error: String((err as Error).message ?? err) };
  }
}

async function checkTemporal({ temporal, config }: AppDeps) {
  try {
    await withTimeout(
      temporal.connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE }),
      3000,
    );
    return { ok: true, namespace: config.TEMPORAL_NAMESPACE };
  } catch (err) {
    return { ok: false, namespace: config.TEMPORAL_NAMESPACE, error: String((err as Error).message ?? err) };
  }
}

async function checkInvokeAI(deps: AppDeps) {
  let url: string | null = null;
  try {
    url = invokeaiLocalUrl(await getSettings(deps.database.db), deps.config);
    const res = await request(new URL('api/v1/app/version', url.endsWith('/') ? url : url + '/'), {
      headersTimeout: 2000,
      bodyTimeout: 2000,
    });
    const body = (await res.body.json()) as { version?: unknown };
    if (res.statusCode !== 200 || typeof body.version !== 'string') {
      return { ok: false, url, error: `HTTP ${res.statusCode}` };
    }
    return { ok: true, url, version: body.version };
  } catch (err) {
    return { ok: false, url, error: String((err as Error).message || (err as Error).name) };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref()),
  ]);
}

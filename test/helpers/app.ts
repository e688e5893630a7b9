/**
 * An API under test: a fresh database, a Temporal client on the `npm test` server, a temporary
 * DATA_DIR, and the Hono app served on a loopback port (real HTTP).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import type { App, AppDeps } from '../../src/api/http.js';
import { parseConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { connectTemporal } from '../../src/temporal/connection.js';
import { createTestDatabase, type TestDatabase } from './db.js';

/** A running test API: `url` (no trailing slash), its deps, and `close()` that removes everything. */
export interface TestApp {
  url: string;
  app: App;
  deps: AppDeps;
  testDb: TestDatabase;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * Starts the app with `env` overrides (e.g. `{ API_TOKEN: 'x', MAX_UPLOAD_SIZE: '1000' }`).
 * DATA_DIR is a fresh temporary folder; DATABASE_URL a fresh database.
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const testDb = await createTestDatabase();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pg-test-data-'));
  const base = parseConfig();
  const config: Config = parseConfig({
    ...Object.fromEntries(Object.entries(base).filter(([, v]) => typeof v === 'string' || typeof v === 'number').map(([k, v]) => [k, String(v)])),
    CORS_ORIGINS: '',
    LOG_LEVEL: 'silent',
    ...env,
    DATABASE_URL: testDb.url,
    DATA_DIR: dataDir,
  });
  const { client, connection } = await connectTemporal({ address: config.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', namespace: config.TEMPORAL_NAMESPACE });
  const logger = createLogger('test-api', config.LOG_LEVEL);
  const deps: AppDeps = { config, database: testDb.database, temporal: client, logger };
  const app = createApp(deps);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    deps,
    testDb,
    dataDir,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await (connection as Connection).close();
      await testDb.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type { Client };

/** A JSON request against `baseUrl`: status and parsed body (`null` when empty). */
export type JsonCall = <T = Record<string, unknown>>(method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: T }>;

/** `JsonCall` bound to `baseUrl`; `onText` sees every raw response body (e.g. to search it for secrets). */
export function jsonCaller(baseUrl: string, onText?: (text: string) => void): JsonCall {
  return async (method, url, body, headers = {}) => {
    const res = await fetch(baseUrl + url, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    onText?.(text);
    return { status: res.status, body: (text ? JSON.parse(text) : null) as never };
  };
}

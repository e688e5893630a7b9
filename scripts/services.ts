/**
 * The real services `npm test`, `npm run bench` and `npm run soak` run against:
 * - PostgreSQL: `DATABASE_URL` (an admin URL; callers create their own databases) or else an
 *   embedded PostgreSQL in `dir`;
 * - Temporal: `TEMPORAL_ADDRESS` or else a dev server from temporal-dev.sh (in memory, headless,
 *   on a free port).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { childEnv, parseConfig } from '../src/config.js';
import { freePort, startEmbeddedPostgres } from '../src/db/embedded.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Running services: where they answer, and `stop()` for what this call started. */
export interface Services {
  /** admin URL (the `postgres` database) */
  databaseUrl: string;
  /** host:port */
  temporalAddress: string;
  /** what was started here rather than taken from the environment */
  started: { postgres: boolean; temporal: boolean };
  /** stops what this call started (never a service given by the environment) */
  stop(): Promise<void>;
}

/**
 * Provides PostgreSQL and Temporal (see the module comment).
 * @param dir a scratch folder for the embedded cluster and the dev server's state
 * @throws the embedded PostgreSQL's or temporal-dev.sh's error (what was started is stopped first)
 * @example const services = await startServices(tmp); try { ... } finally { await services.stop(); }
 */
export async function startServices(dir: string): Promise<Services> {
  const cfg = parseConfig();
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch((e) => console.error('stopping a service failed:', e));
    cleanups.length = 0;
  };
  try {
    let databaseUrl = cfg.DATABASE_URL;
    let temporalAddress = cfg.TEMPORAL_ADDRESS;
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres({ dataDir: dir, database: 'postgres' });
      cleanups.push(() => pg.stop());
      databaseUrl = pg.adminUrl;
    }
    if (!temporalAddress) {
      const port = await freePort();
      const env = childEnv({ DATA_DIR: dir, TEMPORAL_DEV_PORT: String(port), TEMPORAL_DEV_DB: 'memory', TEMPORAL_DEV_HEADLESS: '1' });
      await promisify(execFile)(path.join(ROOT, 'temporal-dev.sh'), ['start'], { env });
      cleanups.push(() => promisify(execFile)(path.join(ROOT, 'temporal-dev.sh'), ['stop'], { env }));
      temporalAddress = `127.0.0.1:${port}`;
    }
    return {
      databaseUrl,
      temporalAddress,
      started: { postgres: !cfg.DATABASE_URL, temporal: !cfg.TEMPORAL_ADDRESS },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

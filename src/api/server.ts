/**
 * The API process (`npm run api`): connects to PostgreSQL and Temporal (both must be configured,
 * or passed down by `npm start`), serves the Hono app on API_HOST:API_PORT, and shuts down cleanly
 * on SIGINT/SIGTERM.
 */
import { serve } from '@hono/node-server';
import { config } from '../config.js';
import { openDatabase } from '../db/client.js';
import { createLogger } from '../logger.js';
import { connectTemporal } from '../temporal/connection.js';
import { createApp } from './app.js';

const cfg = config();
const logger = createLogger('api', cfg.LOG_LEVEL);
if (!cfg.DATABASE_URL || !cfg.TEMPORAL_ADDRESS) {
  logger.fatal('DATABASE_URL and TEMPORAL_ADDRESS must be set for `npm run api` (use `npm start` for the embedded defaults)');
  process.exit(2);
}
const database = openDatabase(cfg.DATABASE_URL);
const { client: temporal, connection } = await connectTemporal({ address: cfg.TEMPORAL_ADDRESS, namespace: cfg.TEMPORAL_NAMESPACE });
const app = createApp({ config: cfg, database, temporal, logger });

const server = serve({ fetch: app.fetch, hostname: cfg.API_HOST, port: cfg.API_PORT }, (info) => {
  logger.info({ url: `http://${cfg.API_HOST}:${info.port}` }, 'API listening');
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'API stopping');
  server.close();
  await Promise.allSettled([database.close(), connection.close()]);
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

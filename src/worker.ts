/**
 * The worker process (`npm run worker`): runs the workflows of `workflows/` and the activities of
 * `activities/` on TEMPORAL_TASK_QUEUE. Scale out by running more of them. On SIGINT/SIGTERM it
 * stops polling, lets in-flight activities finish for a grace period, and exits.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString, DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { config, type Config } from './config.js';
import { openDatabase, type Database } from './db/client.js';
import { createLogger, type Logger } from './logger.js';
import { connectTemporal } from './temporal/connection.js';
import { ensureSchedules } from './temporal/schedules.js';
import { sweepTempFiles } from './storage/files.js';

/** Path of the workflows entry the worker bundles. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * Creates (does not run) a worker on `taskQueue` with our workflows and activities.
 * Tests call this with their own task queue and database.
 */
export async function createWorker(options: {
  config: Config;
  database: Database;
  logger: Logger;
  connection: NativeConnection;
  taskQueue?: string;
  workflowBundle?: { code: string };
}): Promise<Worker> {
  const { config: cfg, database, logger, connection } = options;
  return Worker.create({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    taskQueue: options.taskQueue ?? cfg.TEMPORAL_TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ config: cfg, database, logger }),
    shutdownGraceTime: '10s',
  });
}

async function main() {
  const cfg = config();
  const logger = createLogger('worker', cfg.LOG_LEVEL);
  if (!cfg.DATABASE_URL || !cfg.TEMPORAL_ADDRESS) {
    logger.fatal('DATABASE_URL and TEMPORAL_ADDRESS must be set for `npm run worker` (use `npm start` for the embedded defaults)');
    process.exit(2);
  }
  Runtime.install({
    logger: new DefaultLogger(cfg.LOG_LEVEL === 'debug' || cfg.LOG_LEVEL === 'trace' ? 'DEBUG' : 'WARN'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
  const database = openDatabase(cfg.DATABASE_URL);
  const connection = await connectNative(cfg.TEMPORAL_ADDRESS);
  const worker = await createWorker({ config: cfg, database, logger, connection });
  // A worker killed mid-write leaves `.tmp` files; remove those older than an hour.
  const swept = await sweepTempFiles(cfg.DATA_DIR).catch(() => 0);
  if (swept > 0) logger.info({ swept }, 'removed temporary files left by a crash');
  if (cfg.WORKER_SCHEDULES) await upsertSchedules(cfg, logger);
  logger.info({ taskQueue: cfg.TEMPORAL_TASK_QUEUE }, 'worker running');
  await worker.run();
  await Promise.allSettled([database.close(), connection.close()]);
  logger.info('worker stopped');
}

/** Creates or updates the Temporal Schedules (`ensureSchedules`); a failure is logged, the worker runs anyway. */
async function upsertSchedules(cfg: Config, logger: Logger): Promise<void> {
  try {
    const { client, connection } = await connectTemporal({ address: cfg.TEMPORAL_ADDRESS!, namespace: cfg.TEMPORAL_NAMESPACE });
    try {
      const { ids } = await ensureSchedules(client, cfg);
      logger.info({ schedules: ids }, 'schedules in place');
    } finally {
      await connection.close();
    }
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'could not create or update the schedules');
  }
}

/** Connects the worker's native connection, retrying for up to 30 s. */
export async function connectNative(address: string, timeoutMs = 30_000): Promise<NativeConnection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await NativeConnection.connect({ address });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    process.stderr.write(`worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

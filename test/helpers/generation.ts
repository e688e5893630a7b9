/**
 * The generation stack under test: the InvokeAI double, the API (real HTTP, fresh database,
 * temporary DATA_DIR) on its own task queue, the model cache filled from the double, fast retry
 * settings, and a worker — in this process, or as a real child process that tests can SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { applicationSettings } from '../../src/db/schema.js';
import { childEnv } from '../../src/config.js';
import { createInvokeAIClient } from '../../src/invokeai/client.js';
import { refreshModels } from '../../src/models/refresh.js';
import { createWorker, WORKFLOWS_PATH } from '../../src/worker.js';
import { createLogger } from '../../src/logger.js';
import { startInvokeAIDouble, type InvokeAIDouble, type InvokeAIDoubleOptions } from '../doubles/invokeai/server.js';
import { jsonCaller, startTestApp, type JsonCall, type TestApp } from './app.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let bundle: Promise<{ code: string }> | undefined;
let runtimeInstalled = false;

/** Quiet SDK logs (errors only: the fault tests make warnings on purpose), once per process. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
}

/** The workflow bundle, built once per test process (webpack takes a few seconds). */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { ...silentLogger } as never });
  return bundle;
}
const noop = () => {};
const silentLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

/** A running generation stack. */
export interface GenerationStack {
  api: TestApp;
  invokeai: InvokeAIDouble;
  taskQueue: string;
  /** the sdxl main model key of the double */
  sdxlKey: string;
  sd1Key: string;
  /** JSON request against the API; returns status and parsed body */
  call: JsonCall;
  /** polls a step until `completed` or `failed` */
  waitForStep(stepId: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Starts the stack. `worker: 'in-process'` runs a Worker here; `'none'` leaves it to the test. */
export async function startGenerationStack(options: {
  invokeai?: InvokeAIDoubleOptions;
  worker?: 'in-process' | 'none';
  settings?: Partial<typeof applicationSettings.$inferInsert>;
} = {}): Promise<GenerationStack & { worker?: Worker }> {
  const invokeai = await startInvokeAIDouble({ itemMs: 20, seed: 7, ...options.invokeai });
  const taskQueue = `test-${randomBytes(5).toString('hex')}`;
  const api = await startTestApp({ INVOKEAI_LOCAL_URL: invokeai.url, TEMPORAL_TASK_QUEUE: taskQueue });
  const { db } = api.deps.database;
  const client = createInvokeAIClient({ baseUrl: invokeai.url });
  await refreshModels(db, client);
  await client.close();
  await db
    .update(applicationSettings)
    .set({ retrievalRetryDelay: 1, maxRetrievalAttempts: 3, parallelRetrievals: 3, ...options.settings })
    .where(eq(applicationSettings.id, 1));
  const models = (await db.query.models.findMany()).filter((m) => m.type === 'main');
  const sdxlKey = models.find((m) => m.base === 'sdxl' && !m.defaultVaeKey)?.key ?? models.find((m) => m.base === 'sdxl')!.key;
  const sd1Key = models.find((m) => m.base === 'sd-1')!.key;

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  if ((options.worker ?? 'in-process') === 'in-process') {
    installQuietRuntime();
    connection = await NativeConnection.connect({ address: api.deps.config.TEMPORAL_ADDRESS! });
    worker = await createWorker({
      config: api.deps.config,
      database: api.deps.database,
      logger: createLogger('test-worker', 'silent'),
      connection,
      taskQueue,
      workflowBundle: await workflowBundle(),
    });
    running = worker.run();
  }

  const call = jsonCaller(api.url);

  return {
    api,
    invokeai,
    taskQueue,
    sdxlKey,
    sd1Key,
    worker,
    call,
    async waitForStep(stepId, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { body } = await call('GET', `/api/generation/steps/${stepId}/status`);
        if (body.status === 'completed' || body.status === 'failed') return body;
        if (Date.now() > deadline) throw new Error(`step ${stepId} still ${String(body.status)}: ${JSON.stringify(body)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      if (worker) {
        worker.shutdown();
        await running;
        await connection?.close();
      }
      await api.close();
      await invokeai.close();
    },
  };
}

/** A worker in a child process (the real `src/worker.ts`), for crash tests. */
export function spawnWorker(stack: Pick<GenerationStack, 'api' | 'invokeai' | 'taskQueue'>): ChildProcess {
  const cfg = stack.api.deps.config;
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/worker.ts')], {
    cwd: ROOT,
    env: childEnv({
      DATABASE_URL: stack.api.testDb.url,
      TEMPORAL_ADDRESS: cfg.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      INVOKEAI_LOCAL_URL: stack.invokeai.url,
      DATA_DIR: stack.api.dataDir,
      LOG_LEVEL: 'warn',
      // the test server's schedules are not this throwaway worker's to repoint
      WORKER_SCHEDULES: 'false',
    }),
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

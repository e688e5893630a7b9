/**
 * The remote-mode stack under test: the InvokeAI double behind the RunPod double's pod proxy, the
 * API (real HTTP, fresh database) configured for the RunPod double, the model cache filled, and a
 * worker on a unique task queue — in this process, or as a real child process tests can SIGKILL.
 * Every API response, worker log line and SDK log entry is captured so tests can assert the RunPod
 * key never shows up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { childEnv } from '../../src/config.js';
import { applicationSettings } from '../../src/db/schema.js';
import { createInvokeAIClient } from '../../src/invokeai/client.js';
import { REDACT_PATHS } from '../../src/logger.js';
import { refreshModels } from '../../src/models/refresh.js';
import { createWorker } from '../../src/worker.js';
import { podStatusQuery, podWorkflowId, type PodStatus } from '../../workflows/messages-pod.js';
import { startInvokeAIDouble, type InvokeAIDouble, type InvokeAIDoubleOptions } from '../doubles/invokeai/server.js';
import { startRunPodDouble, type RunPodDouble, type RunPodDoubleOptions } from '../doubles/runpod/server.js';
import { jsonCaller, startTestApp, type JsonCall, type TestApp } from '../helpers/app.js';
import { workflowBundle } from '../helpers/generation.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The RunPod key of the tests: distinctive, so a leak is found by a plain substring search. */
export const SECRET_KEY = `rpa_SECRET_${randomBytes(6).toString('hex')}`;
/** Everything captured for the leak check: API bodies, worker log lines, SDK log entries, child output. */
export const captured: string[] = [];

let runtimeInstalled = false;
/** Installs the SDK runtime once per process with a logger that keeps WARN+ entries in `captured`. */
export function installCapturingRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => captured.push(`${entry.message} ${JSON.stringify(entry.meta ?? {})}`)),
  });
}

/** A running remote-mode stack. */
export interface PodStack {
  api: TestApp;
  invokeai: InvokeAIDouble;
  runpod: RunPodDouble;
  taskQueue: string;
  worker?: Worker;
  sdxlKey: string;
  call: JsonCall;
  /** merges `patch` into the settings row (and `json` into settings_json) */
  setSettings(patch: Partial<typeof applicationSettings.$inferInsert>, json?: Record<string, unknown>): Promise<void>;
  /** the settings row */
  settings(): Promise<typeof applicationSettings.$inferSelect>;
  /** the pod workflow's query */
  podStatus(workflowId: string): Promise<PodStatus>;
  /** starts a pod through the API and waits until it is `ready`; returns the workflow id and status */
  startPod(timeoutMs?: number): Promise<{ workflowId: string; status: PodStatus }>;
  /** the double's pod (by id) */
  doublePod(podId: string): ReturnType<RunPodDouble['admin']['state']>['pods'][number] | undefined;
  close(): Promise<void>;
}

/** Polls `check` every 50 ms until it returns a truthy value; throws naming `what` after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the stack. `worker: 'in-process'` (default) runs a Worker here; `'none'` leaves it to the
 * test (`spawnPodWorker`). `settings_json` defaults: 3 s idle, 0.5 s tick, 20 s readiness limit.
 */
export async function startPodStack(options: {
  worker?: 'in-process' | 'none';
  invokeai?: InvokeAIDoubleOptions;
  runpod?: RunPodDoubleOptions;
  settings?: Partial<typeof applicationSettings.$inferInsert>;
  settingsJson?: Record<string, unknown>;
} = {}): Promise<PodStack> {
  installCapturingRuntime();
  const invokeai = await startInvokeAIDouble({ itemMs: 20, seed: 7, ...options.invokeai });
  const runpod = await startRunPodDouble({
    apiKey: SECRET_KEY,
    invokeaiUrl: invokeai.url,
    timings: { provisioningMs: 100, startingMs: 100 },
    ...options.runpod,
  });
  const taskQueue = `test-pod-${randomBytes(5).toString('hex')}`;
  const api = await startTestApp({
    // Nothing answers here: images can only come through the pod proxy.
    INVOKEAI_LOCAL_URL: 'http://127.0.0.1:9',
    TEMPORAL_TASK_QUEUE: taskQueue,
    RUNPOD_API_URL: runpod.apiUrl,
    RUNPOD_PROXY_URL_TEMPLATE: runpod.proxyUrlTemplate,
  });
  const { db } = api.deps.database;
  const client = createInvokeAIClient({ baseUrl: invokeai.url });
  await refreshModels(db, client);
  await client.close();
  await db
    .update(applicationSettings)
    .set({
      retrievalRetryDelay: 1,
      maxRetrievalAttempts: 3,
      parallelRetrievals: 3,
      runpodApiKey: SECRET_KEY,
      runpodPodType: 'NVIDIA RTX A5000',
      settingsJson: { idle_timeout_seconds: 3, pod_tick_seconds: 0.5, readiness_timeout_seconds: 20, ...options.settingsJson },
      ...options.settings,
    })
    .where(eq(applicationSettings.id, 1));
  const models = (await db.query.models.findMany()).filter((m) => m.type === 'main');
  const sdxlKey = models.find((m) => m.base === 'sdxl' && !m.defaultVaeKey)?.key ?? models.find((m) => m.base === 'sdxl')!.key;

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  if ((options.worker ?? 'in-process') === 'in-process') {
    connection = await NativeConnection.connect({ address: api.deps.config.TEMPORAL_ADDRESS! });
    const sink = new Writable({
      write(chunk, _enc, cb) {
        captured.push(String(chunk));
        cb();
      },
    });
    worker = await createWorker({
      config: api.deps.config,
      database: api.deps.database,
      logger: pino({ name: 'test-worker', level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink),
      connection,
      taskQueue,
      workflowBundle: await workflowBundle(),
    });
    running = worker.run();
  }

  const call = jsonCaller(api.url, (text) => captured.push(text));
  const temporal = api.deps.temporal;
  const stack: PodStack = {
    api,
    invokeai,
    runpod,
    taskQueue,
    worker,
    sdxlKey,
    call,
    async setSettings(patch, json) {
      const [row] = await db.select().from(applicationSettings).where(eq(applicationSettings.id, 1));
      await db
        .update(applicationSettings)
        .set({ ...patch, ...(json ? { settingsJson: { ...row!.settingsJson, ...json } } : {}) })
        .where(eq(applicationSettings.id, 1));
    },
    async settings() {
      return (await db.select().from(applicationSettings).where(eq(applicationSettings.id, 1)))[0]!;
    },
    podStatus: (workflowId) => temporal.workflow.getHandle(workflowId).query(podStatusQuery),
    async startPod(timeoutMs = 30_000) {
      const r = await call<{ pod_workflow_id: string }>('POST', '/api/backend/pod/start');
      if (r.status !== 202) throw new Error(`pod start answered ${r.status}: ${JSON.stringify(r.body)}`);
      const workflowId = r.body.pod_workflow_id;
      const status = await until(
        `pod ${workflowId} ready`,
        async () => {
          const s = await stack.podStatus(workflowId).catch(() => null);
          if (s?.state === 'failed') throw new Error(`pod failed: ${s.last_error}`);
          return s?.state === 'ready' ? s : null;
        },
        timeoutMs,
      );
      return { workflowId, status };
    },
    doublePod: (podId) => runpod.admin.state().pods.find((p) => p.id === podId),
    async close() {
      if (worker) {
        worker.shutdown();
        await running;
        await connection?.close();
      }
      await api.close();
      await runpod.close();
      await invokeai.close();
    },
  };
  return stack;
}

/** A worker in a child process (the real `src/worker.ts`, configured for the doubles); its output goes to `captured`. */
export function spawnPodWorker(stack: PodStack): ChildProcess {
  const cfg = stack.api.deps.config;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/worker.ts')], {
    cwd: ROOT,
    env: childEnv({
      DATABASE_URL: stack.api.testDb.url,
      TEMPORAL_ADDRESS: cfg.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      INVOKEAI_LOCAL_URL: 'http://127.0.0.1:9',
      RUNPOD_API_URL: cfg.RUNPOD_API_URL,
      RUNPOD_PROXY_URL_TEMPLATE: cfg.RUNPOD_PROXY_URL_TEMPLATE,
      DATA_DIR: stack.api.dataDir,
      LOG_LEVEL: 'info',
      WORKER_SCHEDULES: 'false',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => captured.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => captured.push(d.toString()));
  return child;
}

/** Fails when the RunPod key appears in anything captured or in the given workflows' histories. */
export async function assertKeyNeverLeaked(stack: PodStack, workflowIds: string[]): Promise<void> {
  const texts = [...captured];
  for (const id of workflowIds) {
    const history = await stack.api.deps.temporal.workflow.getHandle(id).fetchHistory();
    // protobufjs renders payload bytes as base64: decode every `data` field so the key would be visible.
    const json = JSON.stringify(history);
    texts.push(json, ...[...json.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8')));
  }
  // The histories' payloads were decoded: their inputs are readable (so a key in them would be found).
  if (workflowIds.length && !texts.some((t) => t.includes('sessionId'))) throw new Error('history payloads were not decoded');
  const leaks = texts.filter((t) => t.includes(SECRET_KEY));
  if (leaks.length) throw new Error(`the RunPod key leaked into ${leaks.length} captured texts, e.g. ${leaks[0]!.slice(0, 300)}`);
}

export { podWorkflowId };

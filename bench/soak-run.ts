/**
 * The soak itself (run through `npm run soak`): 30 sessions × 3 steps × 4 images against the
 * InvokeAI double with 10 % 5xx, 5 % connection resets and 2 % truncated image bodies, while the
 * worker — a real child process — is SIGKILLed and restarted 3 times at random moments. At the end
 * it prints and checks:
 * - images expected vs retrieved (lost = expected − retrieved),
 * - duplicate photos (same `invoke_id`),
 * - batches InvokeAI accepted vs steps (the double's `enqueues.byBatchId`),
 * - files on disk vs `completed` rows (orphans, missing) and `.tmp` leftovers,
 * and exits 1 unless lost = 0, duplicates = 0, extra batches = 0, orphan files = 0 (nor missing
 * files, nor leftovers). Bounded: it gives up (exit 1) 15 minutes after it started.
 *
 * With `--remote` the backend is in remote mode: steps start RunPod pods on demand (the RunPod
 * double, whose first create answers 500 after creating the pod and whose first stops fail), reach
 * InvokeAI through the pod proxy, and pods stop after a short idle time; the checks add pods left
 * running (must be 0) and the cost recorded (must be > 0). Fewer sessions, same kills and faults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { childEnv } from '../src/config.js';
import { sweepTempFiles } from '../src/storage/files.js';
import { startGenerationStack, type GenerationStack } from '../test/helpers/generation.js';
import { startRunPodDouble, type RunPodDouble } from '../test/doubles/runpod/server.js';
import { eq } from 'drizzle-orm';
import { applicationSettings } from '../src/db/schema.js';
import { report } from './lib/report.js';

const REMOTE = process.argv.includes('--remote');
const SESSIONS = REMOTE ? 10 : 30;
const STEPS_PER_SESSION = 3;
const BATCH = 4;
const KILLS = 3;
const BOUND_MS = 15 * 60_000;
const FAULTS = { error5xxRate: 0.1, resetRate: 0.05, truncateRate: 0.02 };

const started = Date.now();
const bound = setTimeout(() => {
  console.error(`soak: not finished after ${BOUND_MS / 60_000} minutes; giving up`);
  process.exit(1);
}, BOUND_MS);
bound.unref();

const rand = (min: number, max: number) => min + Math.random() * (max - min);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.log(`[soak ${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`);

const s: GenerationStack = await startGenerationStack({
  worker: 'none',
  invokeai: { itemMs: 50, seed: Date.now() % 2 ** 31 },
  // Enough attempts that a photo is not given up on under 17 % faulty requests; 1 s between them.
  settings: { maxRetrievalAttempts: 10, retrievalRetryDelay: 1, parallelRetrievals: 3 },
});
let runpod: RunPodDouble | undefined;
if (REMOTE) {
  runpod = await startRunPodDouble({
    apiKey: 'rpa_SOAK_KEY',
    invokeaiUrl: s.invokeai.url,
    timings: { provisioningMs: 200, startingMs: 300 },
    faults: { createThen500: 1, stopFailures: 3 },
  });
  await s.api.deps.database.db
    .update(applicationSettings)
    .set({
      backendMode: 'remote',
      runpodApiKey: runpod.apiKey,
      settingsJson: { idle_timeout_seconds: 4, pod_tick_seconds: 1, readiness_timeout_seconds: 60 },
    })
    .where(eq(applicationSettings.id, 1));
}
// The worker's log (every injected fault is a warning) goes to a file, not to the summary.
const workerLog = path.join(os.tmpdir(), `soak-worker-${process.pid}.log`);
const logFd = openSync(workerLog, 'a');
log(`worker log: ${workerLog}`);

/** The real worker (`src/worker.ts`) as a child process, like `spawnWorker` of the test helpers, logging to `workerLog`. */
function spawnWorker(stack: GenerationStack): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../src/worker.ts')], {
    cwd: path.resolve(import.meta.dirname, '..'),
    env: childEnv({
      DATABASE_URL: stack.api.testDb.url,
      TEMPORAL_ADDRESS: stack.api.deps.config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      INVOKEAI_LOCAL_URL: stack.invokeai.url,
      DATA_DIR: stack.api.dataDir,
      LOG_LEVEL: 'warn',
      WORKER_SCHEDULES: 'false',
      ...(runpod ? { RUNPOD_API_URL: runpod.apiUrl, RUNPOD_PROXY_URL_TEMPLATE: runpod.proxyUrlTemplate } : {}),
    }),
    stdio: ['ignore', logFd, logFd],
  });
}

let worker: ChildProcess | undefined = spawnWorker(s);
let exitCode = 1;
try {
  s.invokeai.admin.setFaults(FAULTS);
  const stepIds: string[] = [];
  let finished = false;

  // The killer: 3 SIGKILLs at random moments while the sessions run, a new worker each time.
  const kills: number[] = [];
  const killer = (async () => {
    for (let k = 0; k < KILLS; k++) {
      await sleep(rand(4000, 20_000));
      const w = worker!;
      const exited = new Promise((r) => w.once('exit', r));
      w.kill('SIGKILL');
      await exited;
      kills.push(Date.now() - started);
      log(`worker SIGKILLed (${k + 1}/${KILLS})`);
      await sleep(rand(200, 2000));
      worker = spawnWorker(s);
    }
  })();

  const session = async (n: number) => {
    const created = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
    if (created.status !== 201) throw new Error(`session: ${created.status} ${JSON.stringify(created.body)}`);
    const sessionId = (created.body as { id: string }).id;
    for (let k = 0; k < STEPS_PER_SESSION; k++) {
      const step = await s.call('POST', `/api/generation/sessions/${sessionId}/steps`, {
        prompt: `soak session ${n} step ${k}`,
        model_key: s.sd1Key,
        parameters: { width: 512, height: 512, seed: n * 100 + k * BATCH },
        batch_size: BATCH,
      });
      if (step.status !== 202) throw new Error(`step: ${step.status} ${JSON.stringify(step.body)}`);
      const stepId = (step.body as { id: string }).id;
      stepIds.push(stepId);
      await s.waitForStep(stepId, BOUND_MS);
    }
  };
  await Promise.all(Array.from({ length: SESSIONS }, (_, n) => session(n)));
  finished = true;
  log(`all ${stepIds.length} steps ended`);
  await killer;
  // Let retrievals started before the last kill settle (a step ends only after its retrievals).
  await sleep(2000);
  s.invokeai.admin.setFaults({ error5xxRate: 0, resetRate: 0, truncateRate: 0 });

  const checks = await check(stepIds, Math.max(...kills) + started);
  const remoteOk = !checks.remote || (checks.remote.pods_left_running === 0 && checks.remote.cost_recorded_usd > 0);
  const ok =
    remoteOk &&
    checks.lost === 0 &&
    checks.duplicates === 0 &&
    checks.extra_batches === 0 &&
    checks.orphan_files === 0 &&
    checks.missing_files === 0 &&
    checks.tmp_leftovers_not_from_a_kill === 0 &&
    checks.tmp_left_after_sweep === 0;
  await report(REMOTE ? 'soak-remote' : 'soak', { ...checks, kills_at_ms: kills, faults: FAULTS, elapsed_s: Math.round((Date.now() - started) / 1000), finished, passed: ok });
  exitCode = ok ? 0 : 1;
  if (!ok) console.error('soak: FAILED (see the figures above)');
} finally {
  worker?.kill('SIGKILL');
  await s.close();
  await runpod?.close();
  clearTimeout(bound);
  process.exitCode = exitCode;
}

/**
 * The end-of-soak checks (see the module comment). `.tmp` files: a SIGKILL in the middle of a
 * download leaves its temporary file (no code runs to remove it); those are written before the
 * last kill and are what the reconcile schedule's sweep removes. A `.tmp` written after the last
 * kill is a leak and fails the soak; so does one the sweep does not remove.
 */
async function check(stepIds: string[], lastKillMs: number) {
  const { sql } = s.api.deps.database;
  const expected = stepIds.length * BATCH;
  const steps = await sql<{ status: string; n: number }[]>`SELECT status, count(*)::int AS n FROM generation_steps WHERE id IN ${sql(stepIds)} GROUP BY status`;
  const photos = await sql<{ id: string; invoke_id: string; retrieval_status: string; local_storage_path: string | null }[]>`
    SELECT p.id, p.invoke_id, p.retrieval_status, p.local_storage_path FROM photos p
    JOIN step_alternatives a ON a.image_id = p.id WHERE a.step_id IN ${sql(stepIds)}`;
  const retrieved = photos.filter((p) => p.retrieval_status === 'completed').length;
  const [dup] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM (SELECT invoke_id FROM photos WHERE invoke_id IS NOT NULL GROUP BY invoke_id HAVING count(*) > 1) d`;

  const stats = s.invokeai.admin.stats();
  const [batchRows] = await sql<{ ids: string[] }[]>`SELECT array_agg(batch_id) AS ids FROM generation_steps WHERE id IN ${sql(stepIds)}`;
  const ours = new Set(batchRows?.ids ?? []);
  const enqueued = Object.entries(stats.enqueues.byBatchId);
  const extraBatches = enqueued.reduce((sum, [id, n]) => sum + (ours.has(id) ? n - 1 : n), 0);

  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(s.api.dataDir, rel), { withFileTypes: true }).catch(() => [])) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) await walk(r);
      else files.push(r);
    }
  };
  await walk('photos/generated');
  const tmp = files.filter((f) => f.endsWith('.tmp'));
  const tmpTimes = await Promise.all(tmp.map(async (f) => (await fs.stat(path.join(s.api.dataDir, f))).mtimeMs));
  await sweepTempFiles(s.api.dataDir, 0);
  const tmpAfterSweep: string[] = [];
  files.length = 0;
  await walk('photos/generated');
  tmpAfterSweep.push(...files.filter((f) => f.endsWith('.tmp')));
  const originals = new Set(files.filter((f) => !f.endsWith('.tmp')));
  const rowsWithFile = new Set(photos.filter((p) => p.retrieval_status === 'completed' && p.local_storage_path).map((p) => p.local_storage_path!));
  return {
    steps: stepIds.length,
    steps_by_status: Object.fromEntries(steps.map((r) => [r.status, r.n])),
    images_expected: expected,
    images_retrieved: retrieved,
    lost: expected - retrieved,
    duplicates: dup?.n ?? 0,
    batches_enqueued: enqueued.length,
    extra_batches: extraBatches,
    completed_rows: rowsWithFile.size,
    files_on_disk: originals.size,
    orphan_files: [...originals].filter((f) => !rowsWithFile.has(f)).length,
    missing_files: [...rowsWithFile].filter((f) => !originals.has(f)).length,
    tmp_leftovers: tmp.length,
    tmp_leftovers_not_from_a_kill: tmpTimes.filter((t) => t > lastKillMs).length,
    tmp_left_after_sweep: tmpAfterSweep.length,
    faults_injected: stats.faults,
    remote: await remoteChecks(),
  };
}

/**
 * Remote mode: once the idle time has passed every pod must be stopped (EXITED or TERMINATED in the
 * RunPod double), and the pod lifetimes' cost recorded (`pod_sessions.cost_usd`, USD). Local: null.
 */
async function remoteChecks(): Promise<null | {
  pods_created: number;
  pods_left_running: number;
  cost_recorded_usd: number;
  cost_billed_usd: number;
  lifetime_cost_usd: number;
}> {
  if (!runpod) return null;
  const live = () => runpod!.admin.state().pods.filter((p) => !p.foreign && !['EXITED', 'TERMINATED'].includes(p.status));
  for (let i = 0; i < 120 && live().length > 0; i++) await sleep(500);
  const { sql } = s.api.deps.database;
  const [cost] = await sql<{ usd: number }[]>`SELECT coalesce(sum(cost_usd), 0)::float8 AS usd FROM pod_sessions`;
  const [settings] = await sql<{ lifetime: number }[]>`SELECT lifetime_cost::float8 AS lifetime FROM application_settings WHERE id = 1`;
  const pods = runpod.admin.state().pods.filter((p) => !p.foreign);
  return {
    pods_created: pods.length,
    pods_left_running: live().length,
    cost_recorded_usd: Number(cost?.usd ?? 0),
    cost_billed_usd: Math.round(pods.reduce((sum, p) => sum + p.accruedUsd, 0) * 10_000) / 10_000,
    lifetime_cost_usd: Number(settings?.lifetime ?? 0),
  };
}

/**
 * The maintenance schedules on a real Temporal server with a worker on this file's task queue:
 * `ensureMaintenanceSchedules` run twice leaves one schedule per job with the right spec; a
 * triggered schedule runs its workflow; the retry job fetches failed retrievals again through
 * `retrieve-photo/<id>` and never touches a photo a step is still retrieving; a file lost from
 * storage comes back through reconcile + retry.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { WorkflowNotFoundError, type ScheduleDescription } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { applicationSettings } from '../../src/db/schema.js';
import { MAINTENANCE_SCHEDULES } from '../../src/maintenance/schedules.js';
import { ensureMaintenanceSchedules } from '../../src/temporal/schedules.js';
import { photoRetrievalWorkflowId } from '../../workflows/messages.js';
import { startGenerationStack, type GenerationStack } from '../helpers/generation.js';

let s: GenerationStack;
const prefix = `test-${randomBytes(4).toString('hex')}-`;

before(async () => {
  s = await startGenerationStack({ invokeai: { itemMs: 0 }, settings: { maxRetrievalAttempts: 2, retrievalRetryDelay: 1 } });
});
/** Schedules outlive the test otherwise, and the 60 s retry schedule would race the retry tests below. */
async function deleteSchedules(): Promise<void> {
  const client = s?.api.deps.temporal;
  for (const def of MAINTENANCE_SCHEDULES) await client?.schedule.getHandle(prefix + def.id).delete().catch(() => {});
}
after(async () => {
  await deleteSchedules();
  await s?.close();
});

const temporal = () => s.api.deps.temporal;
const sql = () => s.api.deps.database.sql;
const config = () => ({ TEMPORAL_TASK_QUEUE: s.taskQueue });

test('ensureMaintenanceSchedules twice: one schedule per job, readable ids, the right spec and policies', async () => {
  const first = await ensureMaintenanceSchedules(temporal(), config(), { idPrefix: prefix });
  assert.equal(first.created.length, 5);
  // Paused by a person in the Web UI: a restart must not unpause it.
  await temporal().schedule.getHandle(`${prefix}maintenance-purge-trash`).pause('paused by hand');
  const second = await ensureMaintenanceSchedules(temporal(), config(), { idPrefix: prefix });
  assert.deepEqual(second.created, [], 'the second run updates, it does not create');
  assert.deepEqual(second.ids, first.ids);

  const listed: string[] = [];
  for await (const sch of temporal().schedule.list()) if (sch.scheduleId.startsWith(prefix)) listed.push(sch.scheduleId);
  // list() is eventually consistent; describe() below is the authority, this only catches duplicates.
  assert.equal(new Set(listed).size, listed.length);

  const expected: Record<string, { everyMs: number; workflowType: string }> = {
    'maintenance-retry-failed-retrievals': { everyMs: 60_000, workflowType: 'retryFailedRetrievalsWorkflow' },
    'maintenance-refresh-models': { everyMs: 15 * 60_000, workflowType: 'refreshModelsWorkflow' },
    'maintenance-expire-share-links': { everyMs: 3_600_000, workflowType: 'expireShareLinksWorkflow' },
    'maintenance-purge-trash': { everyMs: 86_400_000, workflowType: 'purgeTrashWorkflow' },
    'maintenance-reconcile-storage': { everyMs: 86_400_000, workflowType: 'reconcileStorageWorkflow' },
  };
  assert.deepEqual(second.ids.map((id) => id.slice(prefix.length)).sort(), Object.keys(expected).sort());
  for (const [id, want] of Object.entries(expected)) {
    const d: ScheduleDescription = await temporal().schedule.getHandle(prefix + id).describe();
    assert.equal(d.spec.intervals?.length, 1, id);
    assert.equal(Number(d.spec.intervals![0]!.every), want.everyMs, id);
    assert.equal(d.action.workflowType, want.workflowType);
    assert.equal(d.action.taskQueue, s.taskQueue);
    assert.equal(d.policies.overlap, 'SKIP');
    assert.match(String(d.memo?.summary ?? ''), /\w+ \w+/, 'a readable summary in the memo');
    assert.equal(d.state.paused, id === 'maintenance-purge-trash', `${id} paused state kept across updates`);
  }
});

test('triggering a schedule runs its workflow', async () => {
  await sql()`INSERT INTO photos (id, filename, width, height, file_size, mime_type) VALUES (gen_random_uuid(), 'shared.jpg', 100, 100, 1, 'image/jpeg')`;
  await sql()`INSERT INTO shared_links (photo_id, access_key, expires_at)
    SELECT id, 'old-' || id, now() - interval '40 days' FROM photos WHERE filename = 'shared.jpg'`;
  await ensureMaintenanceSchedules(temporal(), config(), { idPrefix: prefix });
  const handle = temporal().schedule.getHandle(`${prefix}maintenance-expire-share-links`);
  await handle.trigger();
  let workflowId: string | undefined;
  for (let i = 0; i < 200 && !workflowId; i++) {
    workflowId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
    if (!workflowId) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(workflowId?.startsWith(`${prefix}maintenance-expire-share-links`), String(workflowId));
  const result = await temporal().workflow.getHandle(workflowId!).result();
  assert.deepEqual(result, { deleted: 1, retentionDays: 30 });
  assert.equal((await sql()`SELECT count(*)::int AS n FROM shared_links`)[0]!.n, 0);
  await deleteSchedules();
});

type StepStatus = { status: string; images: Array<{ id: string; retrieval_status: string; retrieval_attempts: number }> };

async function failedStep(batchSize: number, seed: number): Promise<StepStatus & { id: string }> {
  s.invokeai.admin.setFaults({ truncateRate: 1 });
  const session = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  const step = await s.call('POST', `/api/generation/sessions/${(session.body as { id: string }).id}/steps`, {
    prompt: `maintenance ${seed}`,
    model_key: s.sd1Key,
    parameters: { width: 512, height: 512, seed },
    batch_size: batchSize,
  });
  assert.equal(step.status, 202, JSON.stringify(step.body));
  const id = (step.body as { id: string }).id;
  const done = (await s.waitForStep(id, 60_000)) as StepStatus;
  s.invokeai.admin.setFaults({ truncateRate: 0 });
  assert.equal(done.status, 'failed');
  assert.ok(done.images.every((i) => i.retrieval_status === 'failed' && i.retrieval_attempts === 2));
  return { ...done, id };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the retry job retrieves failed photos with attempts left, and leaves a photo a step is retrieving alone', { timeout: 90_000 }, async () => {
  const step = await failedStep(3, 31);
  const [a, b, busy] = step.images.map((i) => i.id) as [string, string, string];
  // Attempts ran out at 2; raising the setting gives each photo one more.
  await s.api.deps.database.db.update(applicationSettings).set({ maxRetrievalAttempts: 3 }).where(eq(applicationSettings.id, 1));
  // As if a step were still retrieving this one.
  await sql()`UPDATE photos SET retrieval_status = 'processing' WHERE id = ${busy}`;

  const result = await temporal().workflow.execute('retryFailedRetrievalsWorkflow', {
    taskQueue: s.taskQueue,
    workflowId: `${prefix}retry-${step.id}`,
    args: [],
  });
  assert.deepEqual(result, { found: 2, started: 2, alreadyRunning: 0 });
  for (const id of [a, b]) {
    const r = await temporal().workflow.getHandle(photoRetrievalWorkflowId(id)).result();
    assert.deepEqual(r, { retrievalStatus: 'completed' });
  }
  const rows = await sql()`SELECT id, retrieval_status, retrieval_attempts FROM photos WHERE id IN ${sql()([a, b, busy])}`;
  const byId = Object.fromEntries(rows.map((r) => [r.id as string, r]));
  assert.equal(byId[a]!.retrieval_status, 'completed');
  assert.equal(byId[a]!.retrieval_attempts, 3, 'the schedule used the attempt left, it did not reset the counter');
  assert.equal(byId[busy]!.retrieval_status, 'processing', 'untouched');
  await assert.rejects(temporal().workflow.getHandle(photoRetrievalWorkflowId(busy)).describe(), WorkflowNotFoundError, 'no retrieval started for it');
  await until('the step is recounted', async () => {
    const { body } = await s.call('GET', `/api/generation/steps/${step.id}/status`);
    return (body as unknown as StepStatus).images.filter((i) => i.retrieval_status === 'completed').length === 2;
  });

  // Nothing left to retry: a second run starts nothing.
  const again = await temporal().workflow.execute('retryFailedRetrievalsWorkflow', { taskQueue: s.taskQueue, workflowId: `${prefix}retry2-${step.id}`, args: [] });
  assert.deepEqual(again, { found: 0, started: 0, alreadyRunning: 0 });
});

test('a file lost from storage: reconcile fails its row, the retry job fetches it again', { timeout: 60_000 }, async () => {
  const [photo] = await sql()`SELECT id, local_storage_path FROM photos WHERE retrieval_status = 'completed' AND is_generated LIMIT 1`;
  assert.ok(photo, 'a retrieved photo from the previous test');
  await fs.rm(path.join(s.api.dataDir, photo.local_storage_path as string));
  const counts = await temporal().workflow.execute('reconcileStorageWorkflow', { taskQueue: s.taskQueue, workflowId: `${prefix}reconcile`, args: [] });
  assert.equal((counts as { missingFiles: number }).missingFiles, 1);
  const retried = await temporal().workflow.execute('retryFailedRetrievalsWorkflow', { taskQueue: s.taskQueue, workflowId: `${prefix}retry3`, args: [] });
  assert.equal((retried as { started: number }).started, 1);
  await temporal().workflow.getHandle(photoRetrievalWorkflowId(photo.id as string)).result();
  const [after] = await sql()`SELECT retrieval_status FROM photos WHERE id = ${photo.id as string}`;
  assert.equal(after!.retrieval_status, 'completed');
  assert.ok((await fs.stat(path.join(s.api.dataDir, photo.local_storage_path as string))).size > 0, 'the file is back');
});

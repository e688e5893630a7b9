/**
 * Faults of a flaky InvokeAI: 5xx, connection resets and truncated image bodies are survived within
 * the retry policy; when every attempt fails the photo ends `failed` with its error and
 * `retrieval_attempts = max_retrieval_attempts`, and a retry later brings it home; another client's
 * images in the same gallery and board are never taken, even when the queue was pruned.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { eq } from 'drizzle-orm';
import { applicationSettings } from '../../src/db/schema.js';
import { spawnWorker, startGenerationStack, type GenerationStack } from '../helpers/generation.js';

let s: GenerationStack;
before(async () => {
  s = await startGenerationStack({ invokeai: { itemMs: 20 } });
});
after(async () => {
  await s?.close();
});

async function newStep(batchSize: number, seed: number) {
  const session = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  const step = await s.call('POST', `/api/generation/sessions/${(session.body as { id: string }).id}/steps`, {
    prompt: `fault test ${seed}`,
    model_key: s.sd1Key,
    parameters: { width: 512, height: 512, seed },
    batch_size: batchSize,
  });
  assert.equal(step.status, 202, JSON.stringify(step.body));
  return step.body as { id: string; batch_id: string; session_id: string };
}

type StepStatus = { status: string; error_message: string | null; images: Array<{ id: string; invoke_id: string; retrieval_status: string; retrieval_attempts: number; retrieval_error: string | null }> };

test('5xx, resets and truncated bodies are survived; one batch, every image retrieved', { timeout: 120_000 }, async () => {
  // Enough attempts that a photo is not given up on: each attempt fails with p ≈ 0.35 here.
  await s.api.deps.database.db.update(applicationSettings).set({ maxRetrievalAttempts: 8 }).where(eq(applicationSettings.id, 1));
  s.invokeai.admin.setFaults({ error5xxRate: 0.1, resetRate: 0.05, truncateRate: 0.25 });
  try {
    const step = await newStep(4, 10);
    const done = (await s.waitForStep(step.id, 90_000)) as StepStatus;
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.images.length, 4);
    assert.ok(done.images.every((i) => i.retrieval_status === 'completed'), JSON.stringify(done.images));
    assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[step.batch_id], 1);
    const injected = s.invokeai.admin.stats().faults;
    assert.ok(injected.truncations + injected.resets + injected.http5xx > 0, `faults were injected: ${JSON.stringify(injected)}`);
  } finally {
    s.invokeai.admin.setFaults({ error5xxRate: 0, resetRate: 0, truncateRate: 0 });
    await s.api.deps.database.db.update(applicationSettings).set({ maxRetrievalAttempts: 3 }).where(eq(applicationSettings.id, 1));
  }
});

test('every attempt failing: photos end failed with attempts = max; a retry then retrieves them', { timeout: 120_000 }, async () => {
  s.invokeai.admin.setFaults({ truncateRate: 1 });
  const step = await newStep(2, 20);
  const failed = (await s.waitForStep(step.id, 90_000)) as StepStatus;
  s.invokeai.admin.setFaults({ truncateRate: 0 });
  assert.equal(failed.status, 'failed');
  assert.equal(failed.images.length, 2);
  for (const img of failed.images) {
    assert.equal(img.retrieval_status, 'failed');
    assert.equal(img.retrieval_attempts, 3, 'attempts = max_retrieval_attempts');
    assert.match(img.retrieval_error ?? '', /truncated|ended early|aborted|premature|bytes/i);
  }
  assert.ok(failed.error_message);

  const retry = await s.call('POST', `/api/generation/steps/${step.id}/retry-retrievals`);
  assert.equal(retry.status, 202);
  assert.deepEqual((retry.body as { photo_ids: string[] }).photo_ids.sort(), failed.images.map((i) => i.id).sort());
  const deadline = Date.now() + 60_000;
  let now: StepStatus;
  do {
    await new Promise((r) => setTimeout(r, 200));
    now = (await s.call('GET', `/api/generation/steps/${step.id}/status`)).body as StepStatus;
  } while (now.status !== 'completed' && Date.now() < deadline);
  assert.equal(now.status, 'completed', JSON.stringify(now));
  assert.ok(now.images.every((i) => i.retrieval_status === 'completed'));
  assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[step.batch_id], 1, 'a retry fetches again, it never re-generates');
});

test('failed queue items: the step fails with InvokeAI’s error message', { timeout: 60_000 }, async () => {
  s.invokeai.admin.setFaults({ failNextItems: 2 });
  const step = await newStep(2, 30);
  const done = (await s.waitForStep(step.id)) as StepStatus;
  assert.equal(done.status, 'failed');
  assert.equal(done.images.length, 0);
  assert.match(done.error_message ?? '', /OutOfMemoryError/);
});

test('another client’s images in the same board are never taken, even after the queue was pruned', { timeout: 180_000 }, async () => {
  s.invokeai.admin.setFaults({ foreignImagesPerItem: 2, foreignSameBoard: true });
  try {
    const step = await newStep(3, 40);
    const done = (await s.waitForStep(step.id)) as StepStatus;
    assert.equal(done.status, 'completed');
    assert.equal(done.images.length, 3, 'only our three images');
    const foreign = s.invokeai.admin.stats().foreignImages;
    assert.ok(foreign >= 6, `foreign images were made (${foreign})`);
    const rows = await s.api.deps.database.sql`SELECT generation_params FROM photos WHERE id IN ${s.api.deps.database.sql(done.images.map((i) => i.id))}`;
    for (const r of rows) assert.equal((r.generation_params.invokeai_metadata as Record<string, unknown>).photo_gallery_cid !== undefined, true);
  } finally {
    s.invokeai.admin.setFaults({ foreignImagesPerItem: 0, foreignSameBoard: false });
  }
});

test('pruned queue: images are recovered by their CID marker only, never by recency', { timeout: 180_000 }, async () => {
  // A second stack whose worker we stop after the enqueue, so the batch finishes and is pruned unseen.
  const t = await startGenerationStack({ worker: 'none', invokeai: { itemMs: 30 } });
  let w: ChildProcess | undefined;
  try {
    t.invokeai.admin.setFaults({ foreignImagesPerItem: 2, foreignSameBoard: true });
    w = spawnWorker(t);
    const session = await t.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
    const sessionId = (session.body as { id: string }).id;
    const added = await t.call('POST', `/api/generation/sessions/${sessionId}/steps`, {
      prompt: 'pruned', model_key: t.sd1Key, parameters: { width: 512, height: 512, seed: 5 }, batch_size: 3,
    });
    const step = added.body as { id: string; batch_id: string };
    // Stop the worker as soon as the step knows its queue items; then let the batch run and prune it.
    for (;;) {
      const [row] = await t.api.deps.database.sql<{ item_ids: number[] | null }[]>`SELECT item_ids FROM generation_steps WHERE id = ${step.id}`;
      if (row?.item_ids?.length) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const exited = new Promise((r) => w!.once('exit', r));
    w.kill('SIGKILL');
    await exited;
    await t.invokeai.admin.idle();
    assert.ok(t.invokeai.admin.prune() > 0, 'finished items pruned');
    const status = await fetch(`${t.invokeai.url}/api/v1/queue/default/b/${step.batch_id}/status`).then((r) => r.json());
    assert.equal((status as { total: number }).total, 0, 'InvokeAI no longer knows the batch');
    // Another client keeps saving newer images to the same board.
    const [{ board_id }] = [...(await t.api.deps.database.sql<{ board_id: string }[]>`SELECT board_id FROM generation_sessions WHERE id = ${sessionId}`)] as [{ board_id: string }];
    for (let i = 0; i < 4; i++) await t.invokeai.admin.addForeignImage({ boardId: board_id });
    await t.invokeai.admin.addForeignImage({ boardId: board_id, cid: 'someone-else' });
    w = spawnWorker(t);
    const done = (await t.waitForStep(step.id, 120_000)) as StepStatus;
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.images.length, 3);
    const rows = await t.api.deps.database.sql`SELECT generation_params FROM photos WHERE is_generated`;
    assert.equal(rows.length, 3, 'no foreign image became a photo');
    assert.equal(t.invokeai.admin.stats().enqueues.byBatchId[step.batch_id], 1);
  } finally {
    w?.kill('SIGKILL');
    await t.close();
  }
});

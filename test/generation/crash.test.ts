/**
 * Promise 1, tested by really killing the worker process (SIGKILL) at three points of a step —
 * right after InvokeAI accepted the enqueue, while the batch runs, and in the middle of the
 * retrievals — then starting a new worker: the step completes with exactly batch_size photos, no
 * duplicate rows or files, and InvokeAI saw exactly one batch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawnWorker, startGenerationStack, type GenerationStack } from '../helpers/generation.js';

let s: GenerationStack;
let worker: ChildProcess | undefined;

before(async () => {
  s = await startGenerationStack({ worker: 'none', invokeai: { itemMs: 300 } });
});
after(async () => {
  worker?.kill('SIGKILL');
  await s?.close();
});

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function kill(): Promise<void> {
  const w = worker!;
  const exited = new Promise((r) => w.once('exit', r));
  w.kill('SIGKILL');
  await exited;
  worker = undefined;
}

async function startStep(batchSize = 4) {
  const session = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  assert.equal(session.status, 201, JSON.stringify(session.body));
  const step = await s.call('POST', `/api/generation/sessions/${(session.body as { id: string }).id}/steps`, {
    prompt: 'a crash-proof lighthouse',
    model_key: s.sdxlKey,
    parameters: { width: 1024, height: 1024, seed: 100 },
    batch_size: batchSize,
  });
  assert.equal(step.status, 202, JSON.stringify(step.body));
  return { sessionId: (session.body as { id: string }).id, ...(step.body as { id: string; batch_id: string }) };
}

async function photoStatuses(stepId: string) {
  return s.api.deps.database.sql<{ id: string; invoke_id: string; retrieval_status: string }[]>`
    SELECT p.id, p.invoke_id, p.retrieval_status FROM photos p JOIN step_alternatives a ON a.image_id = p.id WHERE a.step_id = ${stepId}`;
}

async function assertExactlyOnce(step: { sessionId: string; id: string; batch_id: string }, batchSize: number) {
  worker ??= spawnWorker(s);
  const done = await s.waitForStep(step.id, 120_000);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  const rows = await photoStatuses(step.id);
  assert.equal(rows.length, batchSize, 'exactly batch_size photos');
  assert.equal(new Set(rows.map((r) => r.invoke_id)).size, batchSize, 'no duplicate photo for one InvokeAI image');
  assert.ok(rows.every((r) => r.retrieval_status === 'completed'));
  const [{ n }] = [...(await s.api.deps.database.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM photos WHERE invoke_id IN ${s.api.deps.database.sql(rows.map((r) => r.invoke_id))}`)] as [{ n: number }];
  assert.equal(n, batchSize);
  const dir = path.join(s.api.dataDir, `photos/generated/sessions/${step.sessionId}/${step.id}/variants`);
  const files = (await fs.readdir(dir)).sort();
  assert.deepEqual(files, rows.map((r) => `${r.id}.png`).sort(), 'one file per photo, no temporary leftovers');
  assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[step.batch_id], 1, 'InvokeAI saw exactly one batch');
}

test('SIGKILL right after InvokeAI accepted the enqueue', { timeout: 180_000 }, async () => {
  s.invokeai.admin.setFaults({ enqueueAnswerDelayMs: 3000 });
  worker = spawnWorker(s);
  const step = await startStep();
  await until('the batch is accepted', () => (s.invokeai.admin.stats().enqueues.byBatchId[step.batch_id] ?? 0) === 1);
  await kill(); // the activity is waiting for InvokeAI's answer: the batch exists, the step does not know it yet
  s.invokeai.admin.setFaults({ enqueueAnswerDelayMs: 0 });
  await assertExactlyOnce(step, 4);
});

test('SIGKILL while waiting for the batch', { timeout: 180_000 }, async () => {
  worker ??= spawnWorker(s);
  const step = await startStep();
  await until('items are running', async () => {
    const { body } = await s.call('GET', `/api/generation/steps/${step.id}/status`);
    const p = body.progress as { stage?: string; items_done?: number } | null;
    return p?.stage === 'generating' || (p?.items_done ?? 0) >= 1;
  });
  await kill();
  await assertExactlyOnce(step, 4);
});

test('SIGKILL in the middle of the retrievals', { timeout: 180_000 }, async () => {
  // Slow downloads widen the window between the first and the last retrieval.
  s.invokeai.admin.setFaults({ latencyMs: 700, pathPattern: '/full$' });
  worker ??= spawnWorker(s);
  const step = await startStep();
  await until('some images are retrieved, not all', async () => {
    const rows = await photoStatuses(step.id);
    const done = rows.filter((r) => r.retrieval_status === 'completed').length;
    return rows.length === 4 && done >= 1 && done < 4;
  });
  await kill();
  s.invokeai.admin.setFaults({ latencyMs: 0, pathPattern: null });
  await assertExactlyOnce(step, 4);
});

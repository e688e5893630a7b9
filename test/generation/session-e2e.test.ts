/**
 * A whole generation session through the HTTP API against the InvokeAI double and a real worker:
 * a scratch session, a step of 4 images retrieved to disk, selection, a refinement step from the
 * selection, completion.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { startGenerationStack, type GenerationStack } from '../helpers/generation.js';

let s: GenerationStack;
before(async () => {
  s = await startGenerationStack();
});
after(async () => {
  await s?.close();
});

type Img = { id: string; selected: boolean; retrieval_status: string; url: string; thumbnail_url: string };

test('scratch session: 4 images retrieved, selected, refined, completed', { timeout: 120_000 }, async () => {
  const created = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const session = created.body as { id: string; status: string; workflow_id: string; temporal_ui_url: string };
  assert.equal(session.status, 'active');
  assert.equal(session.workflow_id, `generation-session/${session.id}`);
  assert.match(session.temporal_ui_url, /\/namespaces\/default\/workflows\/generation-session%2F/);

  const added = await s.call('POST', `/api/generation/sessions/${session.id}/steps`, {
    prompt: 'a lighthouse at dusk, oil painting',
    negative_prompt: 'blurry',
    model_key: s.sdxlKey,
    parameters: { width: 1024, height: 1024, steps: 20, cfg_scale: 6, scheduler: 'euler', seed: 42 },
    batch_size: 4,
  });
  assert.equal(added.status, 202, JSON.stringify(added.body));
  const step = added.body as { id: string; batch_id: string; status: string };
  assert.equal(step.status, 'pending');

  const done = (await s.waitForStep(step.id)) as { status: string; images: Img[]; retrieval_stats: { total: number; retrieved: number; failed: number } };
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(done.images.length, 4);
  assert.deepEqual(done.retrieval_stats, { total: 4, retrieved: 4, failed: 0 });
  assert.equal((done as { progress?: { stage?: string } }).progress?.stage, 'done');
  assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[step.batch_id], 1, 'exactly one batch enqueued');

  const { db, sql } = s.api.deps.database;
  const rows = await sql<{ id: string; local_storage_path: string; local_thumbnail_path: string; invoke_id: string; retrieval_status: string; width: number; file_size: number; generation_params: Record<string, unknown> }[]>`
    SELECT p.* FROM photos p JOIN step_alternatives a ON a.image_id = p.id WHERE a.step_id = ${step.id}`;
  assert.equal(rows.length, 4);
  assert.equal(new Set(rows.map((r) => r.invoke_id)).size, 4);
  const seeds = rows.map((r) => r.generation_params.seed).sort();
  assert.deepEqual(seeds, [42, 43, 44, 45], 'each photo carries its actual seed');
  for (const r of rows) {
    assert.equal(r.retrieval_status, 'completed');
    assert.match(r.local_storage_path, new RegExp(`^photos/generated/sessions/${session.id}/${step.id}/variants/${r.id}\\.png$`));
    const png = await sharp(path.join(s.api.dataDir, r.local_storage_path)).metadata();
    assert.equal(png.format, 'png');
    assert.equal(png.width, 1024);
    assert.equal(png.height, 1024);
    assert.equal((await fs.stat(path.join(s.api.dataDir, r.local_storage_path))).size, Number(r.file_size));
    const thumb = await sharp(path.join(s.api.dataDir, r.local_thumbnail_path)).metadata();
    assert.equal(thumb.format, 'webp');
    assert.ok(Math.max(thumb.width!, thumb.height!) <= 300);
    assert.ok((r.generation_params.invokeai_metadata as Record<string, unknown>).photo_gallery_cid, 'InvokeAI metadata merged');
  }
  void db;

  // Select one alternative, then move the selection.
  const [first, second] = done.images;
  let sel = await s.call('POST', `/api/generation/steps/${step.id}/select`, { image_id: first!.id });
  assert.equal(sel.status, 200, JSON.stringify(sel.body));
  sel = await s.call('POST', `/api/generation/steps/${step.id}/select`, { image_id: second!.id });
  assert.equal(sel.status, 200);
  const selected = (sel.body as { images: Img[] }).images.filter((i) => i.selected).map((i) => i.id);
  assert.deepEqual(selected, [second!.id], 'exactly one alternative selected');
  const selDir = path.join(s.api.dataDir, `photos/generated/sessions/${session.id}/${step.id}/selected`);
  assert.deepEqual(await fs.readdir(selDir), [`${second!.id}.png`]);
  const completedRoot = path.join(s.api.dataDir, 'photos/generated/completed');
  const [day] = await fs.readdir(completedRoot);
  assert.deepEqual(await fs.readdir(path.join(completedRoot, day!)), [`${second!.id}.png`]);
  const notAlt = await s.call('POST', `/api/generation/steps/${step.id}/select`, { image_id: '00000000-0000-4000-8000-000000000000' });
  assert.equal(notAlt.status, 404);

  // A second step refines the selection (image-to-image).
  const refine = await s.call('POST', `/api/generation/sessions/${session.id}/steps`, {
    prompt: 'a lighthouse at dusk, stormy sea',
    model_key: s.sdxlKey,
    parameters: { width: 1024, height: 1024, strength: 0.5, seed: 7 },
    batch_size: 2,
    parent_id: step.id,
  });
  assert.equal(refine.status, 202, JSON.stringify(refine.body));
  const refined = (await s.waitForStep((refine.body as { id: string }).id)) as { status: string; images: Img[] };
  assert.equal(refined.status, 'completed', JSON.stringify(refined));
  assert.equal(refined.images.length, 2);
  const sources = await sql`SELECT source_image_id, generation_params FROM photos WHERE id IN ${sql(refined.images.map((i) => i.id))}`;
  for (const r of sources) {
    assert.equal(r.source_image_id, second!.id);
    assert.equal((r.generation_params.invokeai_metadata as { generation_mode?: string }).generation_mode, 'sdxl_img2img');
  }

  // Complete the session: the row and the workflow end.
  const ended = await s.call('PATCH', `/api/generation/sessions/${session.id}`, { status: 'completed' });
  assert.equal(ended.status, 200);
  const endedBody = ended.body as { status: string; completed_at: string | null; steps: unknown[] };
  assert.equal(endedBody.status, 'completed');
  assert.ok(endedBody.completed_at);
  assert.equal(endedBody.steps.length, 2);
  const handle = s.api.deps.temporal.workflow.getHandle(session.workflow_id);
  assert.deepEqual(await handle.result(), { status: 'completed' });
  const late = await s.call('POST', `/api/generation/sessions/${session.id}/steps`, { prompt: 'x', model_key: s.sdxlKey });
  assert.equal(late.status, 409);
});

test('bad step input answers 400 naming the field; unknown session 404', async () => {
  const created = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  const id = (created.body as { id: string }).id;
  const cases: Array<[unknown, RegExp]> = [
    [{ prompt: 'x', model_key: 'no-such-model' }, /model_key/],
    [{ prompt: 'x', model_key: s.sdxlKey, parameters: { width: 1001 } }, /width/],
    [{ prompt: 'x', model_key: s.sdxlKey, parameters: { scheduler: 'fastest' } }, /scheduler/],
    [{ prompt: '', model_key: s.sdxlKey }, /prompt/],
    [{ prompt: 'x', model_key: s.sdxlKey, batch_size: 99 }, /batch_size/],
    [{ prompt: 'x', model_key: s.sdxlKey, parameters: { strength: 0.5 } }, /strength/],
  ];
  for (const [body, field] of cases) {
    const r = await s.call('POST', `/api/generation/sessions/${id}/steps`, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match((r.body as { error: { message: string } }).error.message, field);
  }
  const missing = await s.call('POST', `/api/generation/sessions/00000000-0000-4000-8000-000000000000/steps`, { prompt: 'x', model_key: s.sdxlKey });
  assert.equal(missing.status, 404);
  const badId = await s.call('GET', '/api/generation/sessions/not-a-uuid');
  assert.equal(badId.status, 400);
  const noSource = await s.call('POST', '/api/generation/sessions', { entry_type: 'refinement', source_image_id: '00000000-0000-4000-8000-000000000000' });
  assert.equal(noSource.status, 404);
});

test('Idempotency-Key: a retried create returns the same session and step', async () => {
  const a = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' }, { 'Idempotency-Key': 'k-session-1' });
  const b = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' }, { 'Idempotency-Key': 'k-session-1' });
  assert.equal(a.status, 201);
  assert.equal((a.body as { id: string }).id, (b.body as { id: string }).id);
  const sessionId = (a.body as { id: string }).id;
  const body = { prompt: 'a red fox', model_key: s.sd1Key, batch_size: 1, parameters: { width: 512, height: 512, seed: 1 } };
  const [x, y] = await Promise.all([
    s.call('POST', `/api/generation/sessions/${sessionId}/steps`, body, { 'Idempotency-Key': 'k-step-1' }),
    s.call('POST', `/api/generation/sessions/${sessionId}/steps`, body, { 'Idempotency-Key': 'k-step-1' }),
  ]);
  assert.equal(x.status, 202, JSON.stringify(x.body));
  assert.equal(y.status, 202, JSON.stringify(y.body));
  assert.equal((x.body as { id: string }).id, (y.body as { id: string }).id);
  const [{ n }] = [...(await s.api.deps.database.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM generation_steps WHERE session_id = ${sessionId}`)] as [{ n: number }];
  assert.equal(n, 1, 'one step for one key');
  const done = await s.waitForStep((x.body as { id: string }).id);
  assert.equal(done.status, 'completed');
  assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[(x.body as { batch_id: string }).batch_id], 1);
  const other = await s.call('POST', '/api/generation/sessions', { entry_type: 'refinement' }, { 'Idempotency-Key': 'k-session-1' });
  assert.equal(other.status, 400);
});

/**
 * The pipeline side of the generation benchmarks: the real API, the real workflows and activities
 * (worker in this process), PostgreSQL and Temporal, against the InvokeAI double with zero time
 * per queue item. Steps are added through `POST /api/generation/sessions/{id}/steps`.
 */
import assert from 'node:assert/strict';
import { startGenerationStack, type GenerationStack } from '../../test/helpers/generation.js';

/** Size of every generated image, px, and images per step. */
export const IMAGE = { width: 1024, height: 1024, batchSize: 4 };

/** The stack with the seed's default retrieval concurrency (`parallel_retrievals` = 3). */
export async function startPipeline(): Promise<GenerationStack> {
  return startGenerationStack({ invokeai: { itemMs: 0, seed: 7 }, settings: { parallelRetrievals: 3, retrievalRetryDelay: 1, maxRetrievalAttempts: 3 } });
}

/** Creates a session; returns its id. */
export async function newSession(s: GenerationStack): Promise<string> {
  const r = await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return (r.body as { id: string }).id;
}

/** Adds one step of `IMAGE.batchSize` images; returns the step id and its InvokeAI batch id. */
export async function addStep(s: GenerationStack, sessionId: string, seed: number): Promise<{ id: string; batch_id: string }> {
  const r = await s.call('POST', `/api/generation/sessions/${sessionId}/steps`, {
    prompt: 'a lighthouse on a cliff at dusk, volumetric light',
    model_key: s.sdxlKey,
    parameters: { width: IMAGE.width, height: IMAGE.height, seed },
    batch_size: IMAGE.batchSize,
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body as { id: string; batch_id: string };
}

/** Waits (polling the database every 10 ms) until every step in `stepIds` is completed; returns their `completed_at` (ms). */
export async function waitSteps(s: GenerationStack, stepIds: string[], timeoutMs = 300_000): Promise<Map<string, number>> {
  const { sql } = s.api.deps.database;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await sql<{ id: string; status: string; completed_at: Date | null; images_retrieved: number }[]>`
      SELECT id, status, completed_at, images_retrieved FROM generation_steps WHERE id IN ${sql(stepIds)}`;
    const failed = rows.find((r) => r.status === 'failed');
    if (failed) throw new Error(`step ${failed.id} failed`);
    if (rows.length === stepIds.length && rows.every((r) => r.status === 'completed')) {
      for (const r of rows) assert.equal(r.images_retrieved, IMAGE.batchSize, `step ${r.id} retrieved ${r.images_retrieved}`);
      return new Map(rows.map((r) => [r.id, new Date(r.completed_at!).getTime()]));
    }
    if (Date.now() > deadline) throw new Error(`steps not completed after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The sdxl main model row (for the floor's direct enqueue). */
export async function sdxlModel(s: GenerationStack) {
  const m = await s.api.deps.database.db.query.models.findFirst({ where: (t, { eq }) => eq(t.key, s.sdxlKey) });
  assert.ok(m);
  return m;
}

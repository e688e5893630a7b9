/**
 * Records the workflow histories the replay test (`test/generation/replay.test.ts`) replays:
 * a normal session, a session whose retrievals were retried, and a refinement session — each
 * session workflow and its step workflows. Run it after a deliberate workflow change (with
 * `patched()` where running workflows exist), then commit `test/histories/`.
 *
 *   source <(echo DATABASE_URL=…; echo TEMPORAL_ADDRESS=…) && npx tsx scripts/record-histories.ts
 * or simply through the test services: `npm test -- record-histories` does not run it; use the
 * dev server of `npm start` (DATABASE_URL and TEMPORAL_ADDRESS of a running instance).
 */
import fs from 'node:fs/promises';
import { HISTORIES_DIR as OUT, saveHistory } from './histories.js';
import path from 'node:path';
import sharp from 'sharp';
import { startGenerationStack, type GenerationStack } from '../test/helpers/generation.js';


const save = (s: GenerationStack, name: string, workflowId: string) => saveHistory(s.api.deps.config, name, workflowId);

async function session(s: GenerationStack, name: string, body: Record<string, unknown>, steps: Array<(prev: string | undefined) => Record<string, unknown>>) {
  const created = await s.call('POST', '/api/generation/sessions', body);
  const sessionId = (created.body as { id: string }).id;
  let prev: string | undefined;
  const stepIds: string[] = [];
  for (const make of steps) {
    const r = await s.call('POST', `/api/generation/sessions/${sessionId}/steps`, make(prev));
    if (r.status !== 202) throw new Error(JSON.stringify(r.body));
    const stepId = (r.body as { id: string }).id;
    const done = (await s.waitForStep(stepId)) as { images: Array<{ id: string; retrieval_status: string }> };
    const pick = done.images.find((i) => i.retrieval_status === 'completed');
    if (pick) await s.call('POST', `/api/generation/steps/${stepId}/select`, { image_id: pick.id });
    stepIds.push(stepId);
    prev = stepId;
  }
  await s.call('PATCH', `/api/generation/sessions/${sessionId}`, { status: 'completed' });
  await s.api.deps.temporal.workflow.getHandle(`generation-session/${sessionId}`).result();
  await save(s, `${name}-session`, `generation-session/${sessionId}`);
  for (const [i, id] of stepIds.entries()) await save(s, `${name}-step-${i + 1}`, `generation-step/${id}`);
}

const s = await startGenerationStack({ invokeai: { itemMs: 10, seed: 3 } });
try {
  await fs.mkdir(OUT, { recursive: true });
  const t2i = (prompt: string) => () => ({ prompt, model_key: s.sd1Key, parameters: { width: 512, height: 512, seed: 1 }, batch_size: 2 });

  await session(s, 'normal', { entry_type: 'scratch' }, [
    t2i('a lighthouse at dusk'),
    (prev) => ({ prompt: 'a lighthouse in a storm', model_key: s.sd1Key, parameters: { width: 512, height: 512, strength: 0.5, seed: 2 }, batch_size: 2, parent_id: prev }),
  ]);

  s.invokeai.admin.setFaults({ truncateRate: 0.5 });
  await session(s, 'retrieval-retries', { entry_type: 'scratch' }, [t2i('a fox in the snow')]);
  s.invokeai.admin.setFaults({ truncateRate: 0 });

  // A refinement session needs a photo of ours to start from.
  const { sql } = s.api.deps.database;
  const rel = 'photos/uploaded/2026-01-01/source.png';
  await fs.mkdir(path.join(s.api.dataDir, path.dirname(rel)), { recursive: true });
  await sharp({ create: { width: 640, height: 480, channels: 3, background: '#468' } }).png().toFile(path.join(s.api.dataDir, rel));
  const [photo] = await sql<{ id: string }[]>`
    INSERT INTO photos (filename, width, height, file_size, mime_type, local_storage_path)
    VALUES ('source.png', 640, 480, 1000, 'image/png', ${rel}) RETURNING id`;
  await session(s, 'refinement', { entry_type: 'refinement', source_image_id: photo!.id }, [
    () => ({ prompt: 'the same scene at night', model_key: s.sd1Key, parameters: { width: 512, height: 512, strength: 0.4, seed: 3 }, batch_size: 2 }),
  ]);
} finally {
  await s.close();
}

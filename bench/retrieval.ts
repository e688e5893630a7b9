/**
 * Benchmark `retrieval`: 20 steps × 4 images of 1024×1024 from the InvokeAI double (zero time per
 * queue item) through the real API, workflows, activities, PostgreSQL and Temporal → images/s end
 * to end. Floor, measured in the same run, before and after the pipeline (the faster one counts):
 * the same 20 batches enqueued on the double directly and each image downloaded, checked,
 * thumbnailed and written in a plain loop at the same concurrency (`parallel_retrievals` per batch),
 * no Temporal, no database. Also reported: the retrieval-only floor (the downloads of images already
 * generated), because the double's PNG rendering is CPU time both sides pay.
 *
 *   npm run bench -- retrieval
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inLanes, retrieveDirect, runFloor } from './lib/floor.js';
import { IMAGE, addStep, newSession, sdxlModel, startPipeline, waitSteps } from './lib/pipeline.js';
import { report, round } from './lib/report.js';
import { createInvokeAIClient } from '../src/invokeai/client.js';

const STEPS = 20;
const PARALLEL = 3;

const s = await startPipeline();
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-retrieval-'));
try {
  const model = await sdxlModel(s);
  const floorRun = (dir: string) =>
    runFloor(s.invokeai, { model, batches: STEPS, batchSize: IMAGE.batchSize, width: IMAGE.width, height: IMAGE.height, parallel: PARALLEL, dir: path.join(tmp, dir), concurrent: true });

  // Warm-up: JIT, pools, the workflow bundle's first tasks.
  const warm = await newSession(s);
  await waitSteps(s, [(await addStep(s, warm, 1)).id]);
  await runFloor(s.invokeai, { model, batches: 1, batchSize: IMAGE.batchSize, width: IMAGE.width, height: IMAGE.height, parallel: PARALLEL, dir: path.join(tmp, 'warm'), concurrent: true });
  s.invokeai.admin.reset();

  const floorBefore = await floorRun('floor-1');
  s.invokeai.admin.reset();

  const session = await newSession(s);
  const t0 = Date.now();
  const steps = await Promise.all(Array.from({ length: STEPS }, (_, i) => addStep(s, session, 5000 + i * IMAGE.batchSize)));
  const completed = await waitSteps(s, steps.map((x) => x.id));
  const pipelineMs = Math.max(...completed.values()) - t0;
  const extraBatches = Object.values(s.invokeai.admin.stats().enqueues.byBatchId).filter((n) => n !== 1).length;
  s.invokeai.admin.reset();

  const floorAfter = await floorRun('floor-2');
  // Retrieval only: the images of the last floor run again, already rendered by the double.
  const client = createInvokeAIClient({ baseUrl: s.invokeai.url });
  await fs.mkdir(path.join(tmp, 'retrieval-only', 'variants'), { recursive: true });
  const r0 = Date.now();
  await inLanes(floorAfter.imageNames, PARALLEL, (name) => retrieveDirect(client, name, path.join(tmp, 'retrieval-only'), IMAGE));
  const retrievalOnlyMs = Date.now() - r0;
  await client.close();

  const images = STEPS * IMAGE.batchSize;
  const floorMs = Math.min(floorBefore.elapsedMs, floorAfter.elapsedMs);
  const pipelineIps = images / (pipelineMs / 1000);
  const floorIps = images / (floorMs / 1000);
  const ratio = pipelineIps / floorIps;
  await report(
    'retrieval',
    {
      ratio: round(ratio, 3),
      images,
      steps: STEPS,
      image_px: `${IMAGE.width}x${IMAGE.height}`,
      parallel_retrievals: PARALLEL,
      pipeline_images_per_s: round(pipelineIps, 2),
      pipeline_elapsed_ms: pipelineMs,
      floor_images_per_s: round(floorIps, 2),
      floor_elapsed_ms: [floorBefore.elapsedMs, floorAfter.elapsedMs],
      retrieval_only_floor_images_per_s: round(images / (retrievalOnlyMs / 1000), 2),
      ratio_vs_retrieval_only_floor: round(pipelineIps / (images / (retrievalOnlyMs / 1000)), 3),
      batches_enqueued_more_than_once: extraBatches,
    },
    [{ what: 'pipeline/floor >= 0.85', met: ratio >= 0.85 }],
  );
} finally {
  await s.close();
  await fs.rm(tmp, { recursive: true, force: true });
}

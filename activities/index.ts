/**
 * Every activity the worker runs, built once per worker process with its dependencies
 * (database, config, logger), grouped by the outside system each one touches:
 * `generation.ts` (PostgreSQL catalog), `invokeai.ts` (InvokeAI), `storage.ts` (files),
 * `runpod.ts` (RunPod pods).
 *
 * Errors that a retry cannot fix (bad input, not found, a refused batch) leave as
 * `ApplicationFailure.nonRetryable`, so Temporal does not retry them; everything else is retried
 * under the workflow's RetryPolicy.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import { AppError } from '../src/errors.js';
import { InvokeAIError } from '../src/invokeai/errors.js';
import { GraphParameterError } from '../src/invokeai/graphs/index.js';
import { RunPodError } from '../src/runpod/errors.js';
import type { Logger } from '../src/logger.js';
import { createGenerationActivities } from './generation.js';
import { createInvokeAIActivities } from './invokeai.js';
import { createRunPodActivities } from './runpod.js';
import { createMaintenanceActivities } from './maintenance.js';
import { createStorageActivities } from './storage.js';

/** What activities need from the worker process. */
export interface ActivityDeps {
  config: Config;
  database: Database;
  logger: Logger;
}

/** Builds the activity functions registered on the worker. */
export function createActivities(deps: ActivityDeps) {
  return withFailureMapping({
    ...createGenerationActivities(deps),
    ...createInvokeAIActivities(deps),
    ...createStorageActivities(deps),
    ...createMaintenanceActivities(deps),
    ...createRunPodActivities(deps),
  });
}

/** The activities as workflows see them (`proxyActivities<Activities>`). */
export type Activities = ReturnType<typeof createActivities>;

/** Turns errors no retry can fix into non-retryable ApplicationFailures (type = our error code / class). */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof AppError && err.status < 500) return ApplicationFailure.nonRetryable(err.message, err.code);
  if (err instanceof InvokeAIError && !err.retryable) return ApplicationFailure.nonRetryable(err.message, err.name);
  if (err instanceof GraphParameterError) return ApplicationFailure.nonRetryable(err.message, 'validation_error');
  // RunPod: 429 waits as long as Retry-After says; no capacity, 402, a bad key… are not retried.
  if (err instanceof RunPodError && err.code === 'rate_limited') {
    return ApplicationFailure.create({ message: err.message, type: err.name, nextRetryDelay: err.retryAfterMs ?? 1000 });
  }
  if (err instanceof RunPodError) return err.retryable ? ApplicationFailure.retryable(err.message, err.name) : ApplicationFailure.nonRetryable(err.message, err.name);
  return err;
}

/** How often a running activity heartbeats on its own (ms), so a dead worker is noticed within the heartbeat timeout. */
const AUTO_HEARTBEAT_MS = 1000;

/**
 * Wraps each activity: it heartbeats every second while it runs (a single slow InvokeAI call
 * keeps it alive; a killed worker stops it, and the server retries after `heartbeatTimeout`), and
 * its errors are mapped by `toActivityFailure`.
 */
function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: never[]) => {
        const ctx = Context.current();
        const timer = setInterval(() => ctx.heartbeat(), AUTO_HEARTBEAT_MS);
        try {
          return await fn(...args);
        } catch (err) {
          throw toActivityFailure(err);
        } finally {
          clearInterval(timer);
        }
      },
    ]),
  ) as T;
}

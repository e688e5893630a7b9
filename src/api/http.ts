/**
 * Shared pieces for route modules: the app type, the error body schema, the zod validation hook
 * and id parameters. Route modules (`src/api/routes/*.ts`) export `register<Feature>Routes(app, deps)`.
 */
import { OpenAPIHono, z, type Hook } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';

/** What every route module receives. */
export interface AppDeps {
  config: Config;
  database: Database;
  /** Temporal client (namespace from config) */
  temporal: Client;
  logger: Logger;
}

/** Hono environment: per-request variables set by middleware. */
export type AppEnv = { Variables: { requestId: string; log: Logger } };

/** The typed OpenAPI app that route modules add to. */
export type App = OpenAPIHono<AppEnv>;

/** `{"error":{"code","message"}}`, the body of every error response. */
export const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string() }).loose(),
  })
  .openapi('Error');

/** Error responses for `createRoute({ responses })`: spread `...errorResponses(400, 404)`. */
export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: ERROR_DESCRIPTIONS[s] ?? 'Error', content: { 'application/json': { schema: ErrorBody } } }]),
  );
}
const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (the message names the field)',
  401: 'Missing or wrong bearer token',
  404: 'Not found',
  409: 'Conflict with the current state',
  410: 'Expired',
  413: 'Payload too large',
  503: 'A dependency is down',
};

/** A UUID path parameter: anything else answers 400, never 500. */
export const IdParam = z.object({
  id: z.uuid({ message: 'must be a UUID' }).openapi({ param: { name: 'id', in: 'path' }, example: '0b6f4c7e-8a55-4c1e-9a3e-6a1b2c3d4e5f' }),
});

/** Formats the first zod issue as "field: message". */
export function formatZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid input';
  const where = issue.path.length ? issue.path.join('.') : 'body';
  return `${where}: ${issue.message}`;
}

/** Validation hook: a failed zod parse answers 400 `validation_error` naming the field. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result, c) => {
  if (!result.success) {
    return c.json({ error: { code: 'validation_error', message: formatZodError(result.error) } }, 400);
  }
};

/** A new app with the validation hook, for the root and for sub-apps. */
export function newApp(): App {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

/**
 * Configuration: the one module that reads `process.env`. Every variable is parsed with zod;
 * a bad value stops the process with one line naming the variable and what was expected.
 * The variables are documented in README.md ("Configuration").
 */
import path from 'node:path';
import { z } from 'zod';

const MiB = 1024 * 1024;

const optionalUrl = z.url().optional();
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

/** Environment variables and what they must look like. Keys are the variable names. */
const EnvSchema = z.object({
  /** PostgreSQL URL; unset = embedded PostgreSQL under DATA_DIR/postgres */
  DATABASE_URL: optionalUrl,
  /** host:port of the Temporal frontend; unset = the dev server started by temporal-dev.sh */
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'host:port')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** ports of the dev server temporal-dev.sh starts when TEMPORAL_ADDRESS is unset */
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_DEV_UI_PORT: port.default(8233),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('photo-gallery'),
  /** Temporal Web UI base URL for links in API responses (default: the dev server's UI) */
  TEMPORAL_UI_URL: optionalUrl,
  DATA_DIR: z.string().min(1).default('./data'),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: port.default(8080),
  /** optional bearer token for /api/* (not /s/*, not /api/health) */
  API_TOKEN: optionalNonEmpty,
  /** comma-separated list of allowed CORS origins */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  /** overrides application_settings.local_backend_url (seed default http://localhost:9090) */
  INVOKEAI_LOCAL_URL: optionalUrl,
  RUNPOD_API_KEY: optionalNonEmpty,
  RUNPOD_API_URL: z.url().default('https://api.runpod.io/v2'),
  /** `{pod_id}` and `{port}` are replaced */
  RUNPOD_PROXY_URL_TEMPLATE: z
    .string()
    .refine((v) => v.includes('{pod_id}'), 'a URL template containing {pod_id}')
    .default('https://{pod_id}-{port}.proxy.runpod.net'),
  /** bytes */
  MAX_UPLOAD_SIZE: positiveInt.default(20 * MiB),
  MAX_BATCH_SIZE: positiveInt.max(100).default(10),
  /** false on workers that must not create or update the Temporal Schedules (e.g. throwaway test workers) */
  WORKER_SCHEDULES: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The parsed configuration. Sizes in bytes, ports as numbers, DATA_DIR resolved to an absolute path. */
export type Config = Omit<z.infer<typeof EnvSchema>, 'TEMPORAL_UI_URL'> & { TEMPORAL_UI_URL: string };

/** Thrown by `parseConfig` with a one-line message naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses an environment (default: `process.env`) into a `Config`.
 * @throws ConfigError naming the first bad variable and what was expected.
 */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0] ?? '?');
    const got = env[name];
    throw new ConfigError(
      `invalid environment variable ${name}=${JSON.stringify(name === 'RUNPOD_API_KEY' || name === 'API_TOKEN' ? '***' : got)}: expected ${describe(issue)}`,
    );
  }
  const data = result.data;
  return {
    ...data,
    DATA_DIR: path.resolve(data.DATA_DIR),
    TEMPORAL_UI_URL: data.TEMPORAL_UI_URL ?? `http://127.0.0.1:${data.TEMPORAL_DEV_UI_PORT}`,
  };
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_format':
      return issue.format === 'url' ? 'a URL (e.g. http://host:port)' : `${issue.format} format`;
    case 'invalid_type':
      return issue.expected === 'number' ? 'a number' : issue.expected;
    case 'too_small':
      return `a value >= ${String(issue.minimum)}`;
    case 'too_big':
      return `a value <= ${String(issue.maximum)}`;
    case 'invalid_value':
      return `one of ${issue.values.map(String).join(', ')}`;
    default:
      return issue.message;
  }
}

let cached: Config | undefined;

/**
 * The process's configuration, parsed once. On a bad value it prints one line to stderr and exits 2,
 * which is what every entry point wants.
 */
export function config(): Config {
  if (cached) return cached;
  try {
    cached = parseConfig();
    return cached;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`photo-gallery: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * The environment for a child process (worker, API) with `overrides` set, e.g. the embedded
 * DATABASE_URL. Only this module touches `process.env`.
 */
export function childEnv(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}

/** True when running under CI (the `CI` variable is set). */
export function isCI(): boolean {
  return Boolean(process.env.CI);
}

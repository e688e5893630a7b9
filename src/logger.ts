/**
 * Structured logging (pino, JSON lines on stdout). Secrets are redacted by path wherever they could
 * appear: the RunPod key, bearer tokens, authorization headers.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths pino replaces with "[redacted]" in every log line. */
export const REDACT_PATHS = [
  'runpod_api_key',
  '*.runpod_api_key',
  'apiKey',
  '*.apiKey',
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
];

/**
 * A logger named `name` at `level`. Every line carries `name`; secrets in REDACT_PATHS are replaced.
 */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}

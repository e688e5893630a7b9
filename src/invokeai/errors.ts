/**
 * Typed errors of the InvokeAI client. Each says whether a retry can help (`retryable`), so the
 * activity wrapper can turn the non-retryable ones into `ApplicationFailure.nonRetryable` without
 * knowing InvokeAI.
 *
 * | class | when | retryable |
 * |---|---|---|
 * | `InvokeAIConnectionError` | refused, reset, DNS, socket closed mid-body | yes |
 * | `InvokeAITimeoutError` | connect 10 s / call 30 s / full image 60 s elapsed | yes |
 * | `InvokeAIHttpError` | any other non-2xx; 502/503/504 retryable, the rest not | 502/503/504 only |
 * | `InvokeAIValidationError` | 422, FastAPI `detail` array | no |
 * | `InvokeAINotFoundError` | 404 | no |
 * | `InvokeAIQueueItemFailedError` | a queue item ended `failed` (`error_type`, `error_message`) | no |
 * | `InvokeAIResponseError` | a 2xx body that does not match the schema | no |
 */

/** One entry of FastAPI's 422 `detail` array. `loc` is informational (reference §8). */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

/** Base class: `retryable` says whether the same call may succeed later. */
export class InvokeAIError extends Error {
  override name = 'InvokeAIError';
  constructor(
    message: string,
    readonly retryable: boolean,
    /** `METHOD /path` of the call that failed */
    readonly endpoint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server could not be reached or the connection broke (refused, reset, DNS, closed early). Retryable. */
export class InvokeAIConnectionError extends InvokeAIError {
  override name = 'InvokeAIConnectionError';
  constructor(
    endpoint: string,
    /** the system or undici error code, e.g. `ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET` */
    readonly code: string,
    cause?: unknown,
  ) {
    super(`InvokeAI connection error (${code}) on ${endpoint}`, true, endpoint, { cause });
  }
}

/** A connect, response or body deadline elapsed. Retryable. */
export class InvokeAITimeoutError extends InvokeAIError {
  override name = 'InvokeAITimeoutError';
  constructor(
    endpoint: string,
    /** the deadline that elapsed, ms */
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super(`InvokeAI timed out after ${timeoutMs} ms on ${endpoint}`, true, endpoint, { cause });
  }
}

/** A non-2xx answer. Retryable only for 502/503/504 (a proxy or a server that is starting). */
export class InvokeAIHttpError extends InvokeAIError {
  override name = 'InvokeAIHttpError';
  constructor(
    endpoint: string,
    readonly status: number,
    /** FastAPI `detail`: a string, the 422 array, or undefined when the body was not JSON */
    readonly detail: string | ValidationIssue[] | undefined,
    message?: string,
  ) {
    super(
      message ?? `InvokeAI answered ${status} on ${endpoint}${typeof detail === 'string' ? `: ${detail}` : ''}`,
      RETRYABLE_STATUSES.has(status),
      endpoint,
    );
  }
}

/** 422: the request body failed FastAPI/pydantic validation. `issues` is the `detail` array. Not retryable. */
export class InvokeAIValidationError extends InvokeAIHttpError {
  override name = 'InvokeAIValidationError';
  constructor(
    endpoint: string,
    readonly issues: ValidationIssue[],
  ) {
    super(
      endpoint,
      422,
      issues,
      `InvokeAI refused the request on ${endpoint} (422): ${issues
        .slice(0, 3)
        .map((i) => `${i.loc.join('.')}: ${i.msg}`)
        .join('; ')}`,
    );
  }
}

/** 404: no such queue item, image, board or model. Not retryable. */
export class InvokeAINotFoundError extends InvokeAIHttpError {
  override name = 'InvokeAINotFoundError';
  constructor(endpoint: string, detail: string | undefined) {
    super(endpoint, 404, detail);
  }
}

/** A queue item ended `failed`; carries InvokeAI's `error_type` and `error_message`. Not retryable. */
export class InvokeAIQueueItemFailedError extends InvokeAIError {
  override name = 'InvokeAIQueueItemFailedError';
  constructor(
    readonly itemId: number,
    readonly errorType: string | undefined,
    readonly errorMessage: string | undefined,
  ) {
    super(
      `InvokeAI queue item ${itemId} failed: ${errorType ?? 'Error'}: ${errorMessage ?? '(no message)'}`,
      false,
      `queue item ${itemId}`,
    );
  }
}

/** A 2xx answer whose body does not match the expected schema (or is not JSON). Not retryable. */
export class InvokeAIResponseError extends InvokeAIError {
  override name = 'InvokeAIResponseError';
  constructor(endpoint: string, message: string, cause?: unknown) {
    super(`InvokeAI sent an unexpected response on ${endpoint}: ${message}`, false, endpoint, { cause });
  }
}

const RETRYABLE_STATUSES = new Set([502, 503, 504]);

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * Classifies a low-level error (undici, system, AbortSignal.timeout) thrown while calling
 * `endpoint`. Use it on errors of a streamed body (`getImageFull`) as well. Already-typed
 * `InvokeAIError`s are returned unchanged; anything unknown becomes a non-retryable `InvokeAIError`.
 * @param timeoutMs the deadline in force, reported by `InvokeAITimeoutError`
 */
export function toInvokeAIError(err: unknown, endpoint: string, timeoutMs = 0): InvokeAIError {
  if (err instanceof InvokeAIError) return err;
  const e = err as { name?: string; code?: string; cause?: { code?: string }; message?: string } | undefined;
  if (e?.name === 'TimeoutError') return new InvokeAITimeoutError(endpoint, timeoutMs, err);
  const code = e?.code ?? e?.cause?.code;
  if (code && TIMEOUT_CODES.has(code)) return new InvokeAITimeoutError(endpoint, timeoutMs, err);
  if (code && CONNECTION_CODES.has(code)) return new InvokeAIConnectionError(endpoint, code, err);
  if (code === 'ERR_STREAM_PREMATURE_CLOSE') return new InvokeAIConnectionError(endpoint, code, err);
  return new InvokeAIError(`InvokeAI call ${endpoint} failed: ${e?.message ?? String(err)}`, false, endpoint, {
    cause: err,
  });
}

/** True when `err` is an `InvokeAIError` that a retry may cure. */
export function isRetryableInvokeAIError(err: unknown): boolean {
  return err instanceof InvokeAIError && err.retryable;
}

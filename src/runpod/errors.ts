/**
 * RunPod errors, classified once per ../shared/reference/runpod-api.md §2.4 so callers decide on
 * `retryable` and `code` alone. Every error carries `status` (HTTP status, 0 for network errors),
 * `code`, `retryable`, RunPod's `detail` and `errors[]`, and the request as `method path`.
 *
 * The API key never reaches an error: messages are built from the method, the path (relative to
 * the API base), and RunPod's problem body, and every server-supplied string is passed through
 * the client's redactor anyway. Low-level causes are copied as `{name, code, message}` strings,
 * never as objects that might hold request options.
 */
import { ProblemSchema, type Problem } from './schemas.js';

/** The closed set of RunPod error codes. */
export type RunPodErrorCode =
  | 'no_capacity'
  | 'host_no_gpu'
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'insufficient_balance'
  | 'not_found'
  | 'conflict'
  | 'gone'
  | 'validation_error'
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'network_error'
  | 'invalid_response'
  | 'http_error';

/** Fields every RunPod error is built from. */
export interface RunPodErrorInit {
  status: number;
  method: string;
  /** request path below the API base, e.g. `/pods/abc/action` */
  path: string;
  detail?: string;
  errors?: string[];
  retryAfterMs?: number;
  cause?: { name: string; code?: string; message: string };
}

/** Base class: a failed RunPod call. `status` 0 = no HTTP answer (network error/timeout). */
export class RunPodError extends Error {
  override name = 'RunPodError';
  readonly code: RunPodErrorCode = 'http_error';
  readonly retryable: boolean = false;
  readonly status: number;
  readonly method: string;
  readonly path: string;
  /** RunPod's problem `detail` (or v1 `error`/`message`), redacted */
  readonly detail: string | undefined;
  /** RunPod's problem `errors[]` (422 validation messages), redacted */
  readonly errors: string[] | undefined;
  /** ms to wait before retrying, from `Retry-After` (429, sometimes 503) */
  readonly retryAfterMs: number | undefined;
  /** a sanitized low-level cause (network errors) */
  readonly causeInfo: { name: string; code?: string; message: string } | undefined;

  constructor(init: RunPodErrorInit, summary?: string) {
    super('');
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
    this.detail = init.detail;
    this.errors = init.errors;
    this.retryAfterMs = init.retryAfterMs;
    this.causeInfo = init.cause;
    const where = `RunPod ${init.method} ${init.path}`;
    const head = init.status ? `${where} → ${init.status}` : where;
    const parts = [init.detail, init.errors?.length ? init.errors.join('; ') : undefined, summary].filter(Boolean);
    this.message = parts.length ? `${head}: ${parts.join(' — ')}` : head;
  }

  /** Plain JSON for logs and API responses: no stack, no cause objects. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      status: this.status,
      retryable: this.retryable,
      message: this.message,
      detail: this.detail,
      errors: this.errors,
      retryAfterMs: this.retryAfterMs,
    };
  }
}

/** 400 "There are no longer any instances available…": this GPU type/DC can't be placed now. Don't retry this request; try another GPU type or data center, or later. */
export class RunPodNoCapacityError extends RunPodError {
  override name = 'RunPodNoCapacityError';
  override readonly code: RunPodErrorCode = 'no_capacity';
}
/** Starting a stopped pod whose host GPU was re-rented ("not enough free GPUs on the host machine"). Create a new pod instead. */
export class RunPodHostNoGpuError extends RunPodError {
  override name = 'RunPodHostNoGpuError';
  override readonly code: RunPodErrorCode = 'host_no_gpu';
}
/** 400 rule violation (cross-field rule, unknown GPU id, …). Fix the request. */
export class RunPodBadRequestError extends RunPodError {
  override name = 'RunPodBadRequestError';
  override readonly code: RunPodErrorCode = 'bad_request';
}
/** 401 (missing/invalid key, `code` `unauthorized`) or 403 (key lacks rights or pool access, `code` `forbidden`). */
export class RunPodAuthError extends RunPodError {
  override name = 'RunPodAuthError';
  override readonly code: RunPodErrorCode;
  constructor(init: RunPodErrorInit, summary?: string) {
    super(init, summary);
    this.code = init.status === 403 ? 'forbidden' : 'unauthorized';
  }
}
/** 402: balance too low to deploy (≥ 1 h of credit needed). Stop trying and tell the user. */
export class RunPodInsufficientBalanceError extends RunPodError {
  override name = 'RunPodInsufficientBalanceError';
  override readonly code: RunPodErrorCode = 'insufficient_balance';
}
/** 404: unknown or inaccessible id (terminated pods answer 404). */
export class RunPodNotFoundError extends RunPodError {
  override name = 'RunPodNotFoundError';
  override readonly code: RunPodErrorCode = 'not_found';
}
/** 409: action not allowed in the pod's current status (see `pod.actions`), or a cluster pod. */
export class RunPodConflictError extends RunPodError {
  override name = 'RunPodConflictError';
  override readonly code: RunPodErrorCode = 'conflict';
}
/** 410: a retired API (REST v1) was called. */
export class RunPodGoneError extends RunPodError {
  override name = 'RunPodGoneError';
  override readonly code: RunPodErrorCode = 'gone';
}
/** 422: the body breaks the contract; `errors[]` lists each violation. Never retry. */
export class RunPodValidationError extends RunPodError {
  override name = 'RunPodValidationError';
  override readonly code: RunPodErrorCode = 'validation_error';
}
/** 429: back off `retryAfterMs` (from `Retry-After`, seconds), then retry. */
export class RunPodRateLimitError extends RunPodError {
  override name = 'RunPodRateLimitError';
  override readonly code: RunPodErrorCode = 'rate_limited';
  override readonly retryable = true;
}
/** 5xx: transient upstream failure; retry with backoff. A create may still have made the pod. */
export class RunPodServerError extends RunPodError {
  override name = 'RunPodServerError';
  override readonly code: RunPodErrorCode = 'server_error';
  override readonly retryable = true;
}
/** No HTTP answer: connect/headers/body timeout (`code` `timeout`) or a network failure (`network_error`). Retryable; a create may still have made the pod. */
export class RunPodNetworkError extends RunPodError {
  override name = 'RunPodNetworkError';
  override readonly code: RunPodErrorCode;
  override readonly retryable = true;
  constructor(init: RunPodErrorInit, timedOut: boolean) {
    super(init, timedOut ? 'timed out' : 'network error');
    this.code = timedOut ? 'timeout' : 'network_error';
  }
}
/** A 2xx body that isn't JSON or doesn't match the schema. Not retryable. */
export class RunPodInvalidResponseError extends RunPodError {
  override name = 'RunPodInvalidResponseError';
  override readonly code: RunPodErrorCode = 'invalid_response';
}

const NO_CAPACITY = /no longer any instances available/i;
const HOST_NO_GPU = /not enough free GPUs on the host/i;

/** Replaces secrets in a server-supplied string; the client passes one that masks its API key. */
export type Redactor = (text: string) => string;

/** A redactor that replaces every occurrence of each non-empty secret with `***`. */
export function redactorFor(...secrets: (string | undefined)[]): Redactor {
  const list = secrets.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return (text) => list.reduce((t, s) => t.split(s).join('***'), text);
}

/**
 * Parses `Retry-After` (delta seconds or an HTTP date) into ms ≥ 0; falls back to the reset time
 * `t` (s) of an exhausted window (`r=0`) in the `RateLimit` header. `undefined` when neither says.
 */
export function parseRetryAfterMs(
  retryAfter: string | undefined,
  rateLimit?: string,
  now: number = Date.now(),
): number | undefined {
  if (retryAfter !== undefined && retryAfter.trim() !== '') {
    const v = retryAfter.trim();
    if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
    const at = Date.parse(v);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  if (rateLimit) {
    let best: number | undefined;
    for (const member of rateLimit.split(',')) {
      const r = /;\s*r=(\d+)/.exec(member);
      const t = /;\s*t=(\d+)/.exec(member);
      if (r && t && Number(r[1]) === 0) best = Math.max(best ?? 0, Number(t[1]) * 1000);
    }
    return best;
  }
  return undefined;
}

/** Reads a problem body (any content type); non-JSON text becomes `detail`. Truncated to 1000 chars. */
export function parseProblem(bodyText: string): Problem {
  const text = bodyText.slice(0, 100_000);
  try {
    const parsed = ProblemSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
  } catch {
    // not JSON: fall through
  }
  const trimmed = text.trim().slice(0, 1000);
  return trimmed ? { detail: trimmed } : {};
}

/** What `classifyRunPodResponse` needs to know about a failed HTTP exchange. */
export interface FailedResponse {
  status: number;
  method: string;
  path: string;
  bodyText: string;
  headers: Record<string, string | string[] | undefined>;
  redact: Redactor;
}

function header(h: FailedResponse['headers'], name: string): string | undefined {
  const v = h[name] ?? h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Maps a non-2xx RunPod response to its error class (reference §2.4): 400 capacity →
 * `RunPodNoCapacityError`, other 400 → `RunPodBadRequestError`, 401/403 → `RunPodAuthError`,
 * 402 → `RunPodInsufficientBalanceError`, 404, 409, 410, 422, 429 (with `retryAfterMs`),
 * 5xx → `RunPodServerError` (start on a host without free GPU → `RunPodHostNoGpuError` whatever the status),
 * anything else → `RunPodError` (`http_error`, not retryable).
 */
export function classifyRunPodResponse(res: FailedResponse): RunPodError {
  const problem = parseProblem(res.bodyText);
  const rawDetail = problem.detail ?? problem.error ?? problem.message ?? problem.title;
  const detail = rawDetail === undefined ? undefined : res.redact(rawDetail);
  const errors = problem.errors?.map(res.redact);
  const retryAfterMs = parseRetryAfterMs(header(res.headers, 'retry-after'), header(res.headers, 'ratelimit'));
  const init: RunPodErrorInit = { status: res.status, method: res.method, path: res.path, detail, errors, retryAfterMs };
  const s = res.status;
  if (detail && HOST_NO_GPU.test(detail)) {
    return new RunPodHostNoGpuError(init, 'the stopped pod’s host has no free GPU; create a new pod');
  }
  if (s === 400 && detail && NO_CAPACITY.test(detail)) {
    return new RunPodNoCapacityError(init, 'no capacity for this GPU type now; try another GPU type or data center, or later');
  }
  if (s === 400) return new RunPodBadRequestError(init);
  if (s === 401) return new RunPodAuthError(init, 'the RunPod API key is missing or invalid');
  if (s === 403) return new RunPodAuthError(init, 'the RunPod API key lacks permission for this');
  if (s === 402) return new RunPodInsufficientBalanceError(init, 'insufficient RunPod balance; add credit');
  if (s === 404) return new RunPodNotFoundError(init);
  if (s === 409) return new RunPodConflictError(init);
  if (s === 410) return new RunPodGoneError(init);
  if (s === 422) return new RunPodValidationError(init);
  if (s === 429) return new RunPodRateLimitError(init);
  if (s >= 500) return new RunPodServerError(init);
  return new RunPodError(init);
}

/** True when `err` is (or wraps) a timeout from undici or an AbortSignal.timeout. */
function isTimeout(err: { name?: string; code?: string }): boolean {
  return (
    err.name === 'TimeoutError' ||
    err.code === 'UND_ERR_CONNECT_TIMEOUT' ||
    err.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    err.code === 'UND_ERR_BODY_TIMEOUT' ||
    err.code === 'ETIMEDOUT'
  );
}

/**
 * Wraps a thrown network-level error (undici, DNS, reset, timeout) as a retryable
 * `RunPodNetworkError`, keeping only its name/code/message (redacted).
 */
export function networkError(err: unknown, method: string, path: string, redact: Redactor): RunPodNetworkError {
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; cause?: { name?: string; code?: string; message?: string } };
  const inner = e.cause && typeof e.cause === 'object' ? e.cause : undefined;
  const timedOut = isTimeout(e) || (inner !== undefined && isTimeout(inner));
  const code = e.code ?? inner?.code;
  const message = redact(String(e.message ?? err)).slice(0, 500);
  const cause = { name: String(e.name ?? 'Error'), ...(code ? { code } : {}), message };
  return new RunPodNetworkError({ status: 0, method, path, detail: `${cause.name}${code ? ` ${code}` : ''}: ${message}`, cause }, timedOut);
}

/**
 * The closed set of error codes the API answers with, each mapped once to an HTTP status.
 * Services throw `AppError`; `app.onError` turns it into `{"error":{"code","message"}}`, and the
 * activity wrapper turns a non-retryable one into `ApplicationFailure.nonRetryable`.
 */
export const ERROR_STATUS = {
  validation_error: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invokeai_connection_error: 502,
  invokeai_error: 502,
  runpod_error: 502,
  unavailable: 503,
  internal_error: 500,
} as const;

/** One of the API's error codes. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error the API reports as `{"error":{"code","message"}}` with `ERROR_STATUS[code]`. */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** extra JSON fields merged into the error body, e.g. `{retrieval_status}` */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  /** HTTP status for this error's code. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** Shorthands: `notFound('photo', id)` → 404 "photo <id> not found". */
export const notFound = (what: string, id?: string) =>
  new AppError('not_found', id ? `${what} ${id} not found` : `${what} not found`);
export const badRequest = (message: string, details?: Record<string, unknown>) =>
  new AppError('validation_error', message, details);
export const conflict = (message: string, details?: Record<string, unknown>) =>
  new AppError('conflict', message, details);

/**
 * Typed InvokeAI HTTP client on undici (reference §1–§5). One keep-alive `Pool` per client; use
 * `getInvokeAIClient(baseUrl)` to share one client (and so one pool) per base URL in a process.
 *
 * Deadlines: connect 10 s, every JSON call 30 s (headers + body), a full-size image 60 s (the whole
 * stream). Every failure is an `InvokeAIError` (see `./errors.ts`) that says whether a retry helps.
 *
 * @example
 * const invokeai = createInvokeAIClient({ baseUrl: 'http://127.0.0.1:9090' });
 * const { version } = await invokeai.getAppVersion();
 */
import { Readable, PassThrough } from 'node:stream';
import { Pool, FormData } from 'undici';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import {
  InvokeAIHttpError,
  InvokeAINotFoundError,
  InvokeAIResponseError,
  InvokeAIValidationError,
  toInvokeAIError,
  type ValidationIssue,
} from './errors.js';
import {
  AppVersionSchema,
  BatchStatusSchema,
  BoardDTOSchema,
  CancelResultSchema,
  EnqueueBatchResultSchema,
  ErrorBodySchema,
  ImageDTOSchema,
  ImageListSchema,
  ImageMetadataSchema,
  ModelsListSchema,
  SessionQueueItemSchema,
  type AppVersion,
  type BatchStatus,
  type BoardDTO,
  type EnqueueBatchResult,
  type ImageDTO,
  type ImageList,
  type ModelConfig,
  type SessionQueueItem,
} from './schemas.js';
import type { EnqueueBatchBody } from './graphs/types.js';

/** Options of `createInvokeAIClient`. */
export interface InvokeAIClientOptions {
  /** e.g. `http://127.0.0.1:9090` or a RunPod proxy URL; a path prefix (InvokeAI `base_url`) is kept */
  baseUrl: string;
  /** the queue every queue route uses; InvokeAI's UI only uses `default` */
  queueId?: string;
  /** deadlines in ms: connect (10 000), JSON calls (30 000), full-size image stream (60 000) */
  timeouts?: { connectMs?: number; requestMs?: number; imageMs?: number };
  /** keep-alive connections in the pool (default 8) */
  connections?: number;
  /** extra headers on every request, e.g. `Authorization: Bearer <jwt>` in multiuser mode */
  headers?: Record<string, string>;
}

/** Per-call options. */
export interface CallOptions {
  /** aborts the call; its reason is rethrown as-is (not an InvokeAIError) */
  signal?: AbortSignal;
}

/** A streamed full-size image (`getImageFull`). Errors of `body` are already `InvokeAIError`s. */
export interface ImageStream {
  body: Readable;
  /** `image/png` */
  contentType: string | undefined;
  /** bytes, from Content-Length when sent */
  contentLength: number | undefined;
  headers: Record<string, string | string[] | undefined>;
}

/** Input of `uploadImage` (refinement init images). */
export interface UploadImageInput {
  data: Uint8Array;
  filename: string;
  /** must start with `image/` or InvokeAI answers 415 */
  contentType: string;
  /** default `general` (what the UI uses for img2img init images) */
  imageCategory?: 'general' | 'mask' | 'control' | 'user' | 'other';
  /** default `true`: hidden from the gallery, like the UI's init images */
  isIntermediate?: boolean;
  boardId?: string;
}

/** Filters of `listImages` (`GET /api/v1/images/`). */
export interface ListImagesQuery {
  /** a board id, or `none` for images without a board */
  boardId?: string;
  offset?: number;
  /** default 10 on the server */
  limit?: number;
  /** by created_at; default DESC */
  orderDir?: 'ASC' | 'DESC';
  isIntermediate?: boolean;
  imageOrigin?: 'internal' | 'external';
  categories?: string[];
}

/** The client. Every method throws an `InvokeAIError` subclass on failure. */
export interface InvokeAIClient {
  readonly baseUrl: string;
  readonly queueId: string;
  /** `GET /api/v1/app/version` → `{version}`; the liveness probe (there is no health route). */
  getAppVersion(options?: CallOptions): Promise<AppVersion>;
  /**
   * `GET /api/v2/models/?model_type=&base_models=a&base_models=b` → the model configs.
   * @throws InvokeAIValidationError on a bad enum value
   */
  listModels(query?: { modelType?: string; baseModels?: string[] }, options?: CallOptions): Promise<ModelConfig[]>;
  /**
   * `POST /api/v1/queue/{queue_id}/enqueue_batch` → `{batch: {batch_id}, item_ids (newest first), enqueued, requested}`.
   * Not idempotent: after a retryable error the batch may already be queued; `enqueueBatchOnce`
   * (./batch-images.ts) checks first. `enqueued < requested` means the queue was full.
   * @throws InvokeAIValidationError (422) when the graph or batch is refused
   */
  enqueueBatch(body: EnqueueBatchBody, options?: CallOptions): Promise<EnqueueBatchResult>;
  /** `GET /api/v1/queue/{queue_id}/i/{item_id}` → the item with its session. @throws InvokeAINotFoundError when missing or pruned */
  getQueueItem(itemId: number, options?: CallOptions): Promise<SessionQueueItem>;
  /** `POST /api/v1/queue/{queue_id}/items_by_ids` (chunks of 1000) → items in the requested order; missing ones skipped. v6.9+. */
  getQueueItems(itemIds: number[], options?: CallOptions): Promise<SessionQueueItem[]>;
  /** `GET /api/v1/queue/{queue_id}/b/{batch_id}/status` → counts only; all zero for an unknown or pruned batch. */
  getBatchStatus(batchId: string, options?: CallOptions): Promise<BatchStatus>;
  /** `GET /api/v1/queue/{queue_id}/list_all?destination=` → full items of that destination (priority DESC, item_id ASC). */
  listQueueItemsByDestination(destination: string, options?: CallOptions): Promise<SessionQueueItem[]>;
  /** `PUT /api/v1/queue/{queue_id}/cancel_by_batch_ids` body `{batch_ids}` → number canceled. */
  cancelByBatchIds(batchIds: string[], options?: CallOptions): Promise<number>;
  /** `PUT /api/v1/queue/{queue_id}/cancel_by_destination?destination=` → number canceled. */
  cancelByDestination(destination: string, options?: CallOptions): Promise<number>;
  /** `GET /api/v1/images/i/{image_name}` → ImageDTO. @throws InvokeAINotFoundError */
  getImageDTO(imageName: string, options?: CallOptions): Promise<ImageDTO>;
  /**
   * `GET /api/v1/images/i/{image_name}/full` → the PNG as a stream (60 s deadline for the whole
   * stream). The caller must consume or destroy `body`; a body that ends early errors with a
   * retryable `InvokeAIConnectionError`. @throws InvokeAINotFoundError
   */
  getImageFull(imageName: string, options?: CallOptions): Promise<ImageStream>;
  /** `GET /api/v1/images/i/{image_name}/thumbnail` → WEBP bytes (≤ 256 px; not a PNG). @throws InvokeAINotFoundError */
  getImageThumbnail(imageName: string, options?: CallOptions): Promise<Buffer>;
  /**
   * `GET /api/v1/images/i/{image_name}/metadata` → the stored core_metadata dict, or `null` when
   * the image has none (returned as `null`, not `{}`). @throws InvokeAINotFoundError when no record
   */
  getImageMetadata(imageName: string, options?: CallOptions): Promise<Record<string, unknown> | null>;
  /** `POST /api/v1/images/upload?image_category=&is_intermediate=[&board_id=]` (multipart `file`) → 201 ImageDTO. */
  uploadImage(input: UploadImageInput, options?: CallOptions): Promise<ImageDTO>;
  /** `GET /api/v1/images/?board_id=&offset=&limit=&order_dir=` → `{items, total, offset, limit}`. */
  listImages(query?: ListImagesQuery, options?: CallOptions): Promise<ImageList>;
  /** `POST /api/v1/boards/?board_name=` → 201 BoardDTO. */
  createBoard(boardName: string, options?: CallOptions): Promise<BoardDTO>;
  /** `GET /api/v1/boards/?all=true` → every board. */
  listBoards(options?: CallOptions): Promise<BoardDTO[]>;
  /** Closes the pool; in-flight calls fail. */
  close(): Promise<void>;
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

interface RequestSpec {
  method: Dispatcher.HttpMethod;
  path: string;
  query?: Query;
  json?: unknown;
  form?: FormData;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Creates a client with its own keep-alive pool for `baseUrl`.
 * @example
 * const invokeai = createInvokeAIClient({ baseUrl: 'http://127.0.0.1:9090', timeouts: { requestMs: 5000 } });
 */
export function createInvokeAIClient({
  baseUrl,
  queueId = 'default',
  timeouts = {},
  connections = 8,
  headers = {},
}: InvokeAIClientOptions): InvokeAIClient {
  const url = new URL(baseUrl);
  const prefix = url.pathname.replace(/\/+$/, '');
  const connectMs = timeouts.connectMs ?? 10_000;
  const requestMs = timeouts.requestMs ?? 30_000;
  const imageMs = timeouts.imageMs ?? 60_000;
  const pool = new Pool(url.origin, {
    connections,
    connect: { timeout: connectMs },
    keepAliveTimeout: 30_000,
  });
  const q = `/api/v1/queue/${encodeURIComponent(queueId)}`;
  const img = (name: string) => `/api/v1/images/i/${encodeURIComponent(name)}`;

  /** Sends one request; resolves with the 2xx response, throws a typed error otherwise. */
  async function send(spec: RequestSpec): Promise<{ endpoint: string; res: Dispatcher.ResponseData }> {
    const endpoint = `${spec.method} ${spec.path}`;
    const search = toSearch(spec.query);
    const deadline = AbortSignal.timeout(spec.timeoutMs);
    const signal = spec.signal ? AbortSignal.any([spec.signal, deadline]) : deadline;
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({
        method: spec.method,
        path: prefix + spec.path + search,
        headers: {
          ...headers,
          accept: 'application/json',
          ...(spec.json !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: spec.json !== undefined ? JSON.stringify(spec.json) : spec.form,
        signal,
        headersTimeout: spec.timeoutMs,
        bodyTimeout: spec.timeoutMs,
      });
    } catch (err) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      throw toInvokeAIError(err, endpoint, spec.timeoutMs);
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text().catch(() => '');
      throw httpError(endpoint, res.statusCode, text);
    }
    return { endpoint, res };
  }

  async function json<S extends z.ZodType>(spec: RequestSpec, schema: S): Promise<z.infer<S>> {
    const { endpoint, res } = await send(spec);
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      throw toInvokeAIError(err, endpoint, spec.timeoutMs);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new InvokeAIResponseError(endpoint, `body is not JSON (${text.slice(0, 80)})`, err);
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      throw new InvokeAIResponseError(endpoint, z.prettifyError(parsed.error).slice(0, 500), parsed.error);
    }
    return parsed.data;
  }

  const get = (path: string, query: Query | undefined, o: CallOptions | undefined): RequestSpec => ({
    method: 'GET',
    path,
    query,
    timeoutMs: requestMs,
    signal: o?.signal,
  });

  return {
    baseUrl,
    queueId,

    getAppVersion: (o) => json(get('/api/v1/app/version', undefined, o), AppVersionSchema),

    async listModels(query = {}, o) {
      const list = await json(
        get('/api/v2/models/', { model_type: query.modelType, base_models: query.baseModels }, o),
        ModelsListSchema,
      );
      return list.models;
    },

    enqueueBatch: (body, o) =>
      json(
        { method: 'POST', path: `${q}/enqueue_batch`, json: body, timeoutMs: requestMs, signal: o?.signal },
        EnqueueBatchResultSchema,
      ),

    getQueueItem: (itemId, o) => json(get(`${q}/i/${itemId}`, undefined, o), SessionQueueItemSchema),

    async getQueueItems(itemIds, o) {
      const out: SessionQueueItem[] = [];
      for (let i = 0; i < itemIds.length; i += 1000) {
        const chunk = itemIds.slice(i, i + 1000);
        out.push(
          ...(await json(
            {
              method: 'POST',
              path: `${q}/items_by_ids`,
              json: { item_ids: chunk },
              timeoutMs: requestMs,
              signal: o?.signal,
            },
            z.array(SessionQueueItemSchema),
          )),
        );
      }
      return out;
    },

    getBatchStatus: (batchId, o) =>
      json(get(`${q}/b/${encodeURIComponent(batchId)}/status`, undefined, o), BatchStatusSchema),

    listQueueItemsByDestination: (destination, o) =>
      json(get(`${q}/list_all`, { destination }, o), z.array(SessionQueueItemSchema)),

    async cancelByBatchIds(batchIds, o) {
      const r = await json(
        {
          method: 'PUT',
          path: `${q}/cancel_by_batch_ids`,
          json: { batch_ids: batchIds },
          timeoutMs: requestMs,
          signal: o?.signal,
        },
        CancelResultSchema,
      );
      return r.canceled;
    },

    async cancelByDestination(destination, o) {
      const r = await json(
        {
          method: 'PUT',
          path: `${q}/cancel_by_destination`,
          query: { destination },
          timeoutMs: requestMs,
          signal: o?.signal,
        },
        CancelResultSchema,
      );
      return r.canceled;
    },

    getImageDTO: (name, o) => json(get(img(name), undefined, o), ImageDTOSchema),

    async getImageFull(name, o) {
      const spec: RequestSpec = { method: 'GET', path: `${img(name)}/full`, timeoutMs: imageMs, signal: o?.signal };
      const { endpoint, res } = await send(spec);
      // Re-emit body errors as typed errors so the caller's pipeline sees retryable/non-retryable.
      const body = new PassThrough();
      res.body.on('error', (err) => body.destroy(o?.signal?.aborted ? o.signal.reason : toInvokeAIError(err, endpoint, imageMs)));
      body.on('close', () => {
        if (!res.body.destroyed) res.body.destroy();
      });
      res.body.pipe(body);
      const len = res.headers['content-length'];
      return {
        body,
        contentType: headerString(res.headers['content-type']),
        contentLength: len === undefined ? undefined : Number(len),
        headers: res.headers,
      };
    },

    async getImageThumbnail(name, o) {
      const spec = get(`${img(name)}/thumbnail`, undefined, o);
      const { endpoint, res } = await send(spec);
      try {
        return Buffer.from(await res.body.arrayBuffer());
      } catch (err) {
        if (o?.signal?.aborted) throw o.signal.reason;
        throw toInvokeAIError(err, endpoint, requestMs);
      }
    },

    getImageMetadata: (name, o) => json(get(`${img(name)}/metadata`, undefined, o), ImageMetadataSchema),

    uploadImage(input, o) {
      const form = new FormData();
      form.append('file', new Blob([input.data], { type: input.contentType }), input.filename);
      return json(
        {
          method: 'POST',
          path: '/api/v1/images/upload',
          query: {
            image_category: input.imageCategory ?? 'general',
            is_intermediate: input.isIntermediate ?? true,
            board_id: input.boardId,
          },
          form,
          timeoutMs: imageMs,
          signal: o?.signal,
        },
        ImageDTOSchema,
      );
    },

    listImages: (query = {}, o) =>
      json(
        get(
          '/api/v1/images/',
          {
            board_id: query.boardId,
            offset: query.offset,
            limit: query.limit,
            order_dir: query.orderDir,
            is_intermediate: query.isIntermediate,
            image_origin: query.imageOrigin,
            categories: query.categories,
          },
          o,
        ),
        ImageListSchema,
      ),

    createBoard: (boardName, o) =>
      json(
        {
          method: 'POST',
          path: '/api/v1/boards/',
          query: { board_name: boardName },
          timeoutMs: requestMs,
          signal: o?.signal,
        },
        BoardDTOSchema,
      ),

    listBoards: (o) => json(get('/api/v1/boards/', { all: true }, o), z.array(BoardDTOSchema)),

    close: () => pool.close(),
  };
}

const shared = new Map<string, InvokeAIClient>();

/**
 * The process-wide client for `baseUrl` (created on first use, default options), so every activity
 * talking to the same server shares one keep-alive pool.
 */
export function getInvokeAIClient(baseUrl: string): InvokeAIClient {
  let client = shared.get(baseUrl);
  if (!client) {
    client = createInvokeAIClient({ baseUrl });
    shared.set(baseUrl, client);
  }
  return client;
}

/** Closes every client made by `getInvokeAIClient` (worker shutdown, tests). */
export async function closeInvokeAIClients(): Promise<void> {
  const clients = [...shared.values()];
  shared.clear();
  await Promise.all(clients.map((c) => c.close()));
}

function toSearch(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    // Lists are repeated (`base_models=a&base_models=b`), never comma-joined (reference §2.1).
    if (Array.isArray(v)) for (const item of v) params.append(k, item);
    else params.append(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

function httpError(endpoint: string, status: number, text: string): InvokeAIHttpError {
  let detail: string | ValidationIssue[] | undefined;
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) detail = parsed.data.detail as string | ValidationIssue[];
  } catch {
    detail = text ? text.slice(0, 200) : undefined;
  }
  if (status === 422 && Array.isArray(detail)) return new InvokeAIValidationError(endpoint, detail);
  if (status === 404) return new InvokeAINotFoundError(endpoint, typeof detail === 'string' ? detail : undefined);
  return new InvokeAIHttpError(endpoint, status, detail);
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

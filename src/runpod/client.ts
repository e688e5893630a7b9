/**
 * Typed RunPod REST v2 client on one undici keep-alive pool. Endpoints and shapes follow
 * ../shared/reference/runpod-api.md §2 and runpod-openapi-v2.json; errors are classified in
 * `errors.ts`. The client never retries: retry policy belongs to the caller (Temporal activities),
 * which matters most for create — a 5xx or timeout may have created a billed pod, so the caller
 * lists pods and adopts it instead of creating again (reference §3 quirks).
 *
 * The API key lives only in this module's closure and in the `Authorization` header; it is not a
 * property of the client object and never part of an error (see `errors.ts`).
 *
 * @example
 * const runpod = createRunPodClient({ apiKey: cfg.RUNPOD_API_KEY, baseUrl: cfg.RUNPOD_API_URL,
 *   proxyUrlTemplate: cfg.RUNPOD_PROXY_URL_TEMPLATE });
 * const pod = await runpod.createPod({ name: 'photo-gallery runpod-pod/…', image, gpu: { id: 'NVIDIA RTX A5000' }, ports: ['9090/http'] });
 * const url = runpod.podProxyUrl(pod.id, 9090); // https://<id>-9090.proxy.runpod.net
 */
import { Pool } from 'undici';
import type { z } from 'zod';
import {
  classifyRunPodResponse,
  networkError,
  redactorFor,
  RunPodInvalidResponseError,
  type Redactor,
} from './errors.js';
import {
  GpuTypeSchema,
  ListGpuTypesResponseSchema,
  ListPodsResponseSchema,
  PodSchema,
  type Cloud,
  type CreatePodRequest,
  type GpuType,
  type Pod,
  type PodAction,
} from './schemas.js';

/** Options for `createRunPodClient`. Times in ms. */
export interface RunPodClientOptions {
  /** RunPod API key, sent as `Authorization: Bearer <key>` */
  apiKey: string;
  /** REST v2 base, default `https://api.runpod.io/v2` (config `RUNPOD_API_URL`) */
  baseUrl?: string;
  /** HTTP proxy URL template with `{pod_id}` and `{port}`, default `https://{pod_id}-{port}.proxy.runpod.net` */
  proxyUrlTemplate?: string;
  /** TCP+TLS connect timeout, default 10 000 ms */
  connectTimeoutMs?: number;
  /** whole-request timeout per call, default 30 000 ms (create: at least 60 000 ms) */
  timeoutMs?: number;
  /** max sockets in the keep-alive pool, default 4 */
  connections?: number;
}

/** Per-call options. `signal` cancels (its reason is rethrown as is); `timeoutMs` overrides the client's. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Client-side filters for `listPods` (v2 has no server-side name filter, reference §2.1). */
export interface ListPodsFilter {
  /** exact pod name */
  name?: string;
  /** substring of the pod name, e.g. the tag our pod names carry */
  nameIncludes?: string;
  /** include cluster member pods (server-side `includeClusterPods`) */
  includeClusterPods?: boolean;
}

/** Catalog query: `availability` adds `include=AVAILABILITY&product=POD` (with `cloud`, `count`). */
export interface GpuCatalogQuery {
  availability?: boolean;
  cloud?: Cloud;
  /** GPUs per pod for availability, default 1 */
  count?: number;
}

/** The RunPod REST v2 client. Every method throws a `RunPodError` subclass on failure (see `errors.ts`). */
export interface RunPodClient {
  /** `POST /v2/pods` → 201 Pod (status `PROVISIONING`). A 5xx/timeout may still have created the pod. */
  createPod(body: CreatePodRequest, opts?: CallOptions): Promise<Pod>;
  /** `GET /v2/pods/{id}` → Pod; terminated/unknown → `RunPodNotFoundError`. */
  getPod(podId: string, opts?: CallOptions): Promise<Pod>;
  /** `GET /v2/pods[?includeClusterPods=true]` → pods, filtered client-side by name. */
  listPods(filter?: ListPodsFilter, opts?: CallOptions): Promise<Pod[]>;
  /** `POST /v2/pods/{id}/action` `{"action"}` → 200 Pod, or `null` for `terminate` (204). Not allowed in this status → `RunPodConflictError`. */
  podAction(podId: string, action: PodAction, opts?: CallOptions): Promise<Pod | null>;
  /** `podAction(id, 'start')`: boot an `EXITED`/`ERROR` pod; host GPU gone → `RunPodHostNoGpuError`. */
  startPod(podId: string, opts?: CallOptions): Promise<Pod>;
  /** `podAction(id, 'stop')`: → `EXITED`, `cost` 0 (the volume disk still bills). */
  stopPod(podId: string, opts?: CallOptions): Promise<Pod>;
  /** `podAction(id, 'terminate')` (204): the pod and its local volume are gone; GET then 404. */
  terminatePod(podId: string, opts?: CallOptions): Promise<void>;
  /** `DELETE /v2/pods/{id}` (204): terminate and delete. */
  deletePod(podId: string, opts?: CallOptions): Promise<void>;
  /** `GET /v2/catalog/gpus` → GPU types with list prices (USD/h per GPU). */
  listGpuTypes(query?: GpuCatalogQuery, opts?: CallOptions): Promise<GpuType[]>;
  /** `GET /v2/catalog/gpus/{id}` → one GPU type; unknown id → `RunPodNotFoundError`. */
  getGpuType(gpuTypeId: string, query?: GpuCatalogQuery, opts?: CallOptions): Promise<GpuType>;
  /** The HTTP proxy URL of `port` on the pod, from the template (no trailing slash). */
  podProxyUrl(podId: string, port: number): string;
  /** Closes the keep-alive pool. */
  close(): Promise<void>;
}

/** Default REST v2 base. */
export const RUNPOD_API_URL = 'https://api.runpod.io/v2';
/** Default proxy URL template (reference §8). */
export const RUNPOD_PROXY_URL_TEMPLATE = 'https://{pod_id}-{port}.proxy.runpod.net';

/**
 * Fills a proxy URL template: `{pod_id}` → pod id, `{port}` → port; trailing `/` removed.
 * @example podProxyUrl('https://{pod_id}-{port}.proxy.runpod.net', 'abc', 9090) // https://abc-9090.proxy.runpod.net
 */
export function podProxyUrl(template: string, podId: string, port: number): string {
  return template.replaceAll('{pod_id}', podId).replaceAll('{port}', String(port)).replace(/\/+$/, '');
}

/**
 * Creates a RunPod REST v2 client (see `RunPodClient`). Holds one undici `Pool` to the API origin;
 * call `close()` when done.
 */
export function createRunPodClient({
  apiKey,
  baseUrl = RUNPOD_API_URL,
  proxyUrlTemplate = RUNPOD_PROXY_URL_TEMPLATE,
  connectTimeoutMs = 10_000,
  timeoutMs = 30_000,
  connections = 4,
}: RunPodClientOptions): RunPodClient {
  const base = new URL(baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const redact: Redactor = redactorFor(apiKey, encodeURIComponent(apiKey));
  const pool = new Pool(base.origin, {
    connections,
    keepAliveTimeout: 30_000,
    connect: { timeout: connectTimeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });

  async function call<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'DELETE',
    relPath: string,
    schema: S | null,
    { body, query, opts, defaultTimeoutMs = timeoutMs }: {
      body?: unknown;
      query?: Record<string, string | undefined>;
      opts?: CallOptions;
      defaultTimeoutMs?: number;
    } = {},
  ): Promise<z.infer<S> | null> {
    const path = basePath + relPath;
    const qs = new URLSearchParams(
      Object.entries(query ?? {}).filter((e): e is [string, string] => e[1] !== undefined),
    ).toString();
    const limit = opts?.timeoutMs ?? defaultTimeoutMs;
    const timeout = AbortSignal.timeout(limit);
    const signal = opts?.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let statusCode: number;
    let headers: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const res = await pool.request({
        method,
        path: qs ? `${path}?${qs}` : path,
        headers: {
          authorization: `Bearer ${apiKey}`,
          accept: 'application/json, application/problem+json',
          'user-agent': 'photo-gallery (runpod-client)',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        headersTimeout: limit,
        bodyTimeout: limit,
      });
      statusCode = res.statusCode;
      headers = res.headers;
      text = await res.body.text();
    } catch (err) {
      if (opts?.signal?.aborted) throw opts.signal.reason;
      throw networkError(timeout.aborted ? timeout.reason : err, method, path, redact);
    }
    if (statusCode < 200 || statusCode >= 300) {
      throw classifyRunPodResponse({ status: statusCode, method, path, bodyText: text, headers, redact });
    }
    if (schema === null || statusCode === 204 || text.trim() === '') {
      if (schema === null) return null;
      throw new RunPodInvalidResponseError({ status: statusCode, method, path, detail: 'empty body where JSON was expected' });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RunPodInvalidResponseError({ status: statusCode, method, path, detail: 'response is not JSON' });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((i) => `$.${i.path.join('.')}: ${i.message}`)
        .join('; ');
      throw new RunPodInvalidResponseError({ status: statusCode, method, path, detail: redact(`unexpected response shape: ${issues}`) });
    }
    return parsed.data;
  }

  const id = (podId: string) => encodeURIComponent(podId);
  const catalogQuery = (q?: GpuCatalogQuery) =>
    q?.availability
      ? { include: 'AVAILABILITY', product: 'POD', cloud: q.cloud, count: q.count === undefined ? undefined : String(q.count) }
      : undefined;

  const client: RunPodClient = {
    async createPod(body, opts) {
      return (await call('POST', '/pods', PodSchema, { body, opts, defaultTimeoutMs: Math.max(timeoutMs, 60_000) }))!;
    },
    async getPod(podId, opts) {
      return (await call('GET', `/pods/${id(podId)}`, PodSchema, { opts }))!;
    },
    async listPods(filter = {}, opts) {
      const res = await call('GET', '/pods', ListPodsResponseSchema, {
        query: { includeClusterPods: filter.includeClusterPods ? 'true' : undefined },
        opts,
      });
      return res!.pods.filter(
        (p) =>
          (filter.name === undefined || p.name === filter.name) &&
          (filter.nameIncludes === undefined || p.name.includes(filter.nameIncludes)),
      );
    },
    async podAction(podId, action, opts) {
      // 200 + Pod for start/stop/restart, 204 for terminate: parse only when there is a body.
      const pod = await call('POST', `/pods/${id(podId)}/action`, action === 'terminate' ? null : PodSchema, {
        body: { action },
        opts,
      });
      return pod ?? null;
    },
    async startPod(podId, opts) {
      return (await client.podAction(podId, 'start', opts))!;
    },
    async stopPod(podId, opts) {
      return (await client.podAction(podId, 'stop', opts))!;
    },
    async terminatePod(podId, opts) {
      await client.podAction(podId, 'terminate', opts);
    },
    async deletePod(podId, opts) {
      await call('DELETE', `/pods/${id(podId)}`, null, { opts });
    },
    async listGpuTypes(query, opts) {
      return (await call('GET', '/catalog/gpus', ListGpuTypesResponseSchema, { query: catalogQuery(query), opts }))!.gpus;
    },
    async getGpuType(gpuTypeId, query, opts) {
      return (await call('GET', `/catalog/gpus/${encodeURIComponent(gpuTypeId)}`, GpuTypeSchema, {
        query: catalogQuery(query),
        opts,
      }))!;
    },
    podProxyUrl(podId, port) {
      return podProxyUrl(proxyUrlTemplate, podId, port);
    },
    async close() {
      await pool.close();
    },
  };
  return client;
}

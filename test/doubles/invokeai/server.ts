/**
 * An in-process InvokeAI test double (reference §11): the HTTP routes the client uses, enqueue
 * validation like the real server (OpenAPI + §8 graph/batch checks → 422 `detail` array), a queue
 * that runs one item at a time (`pending → in_progress → completed|failed|canceled`), real PNGs
 * with `invokeai_metadata`/`invokeai_graph` tEXt chunks, WEBP thumbnails, boards, uploads, and
 * fault knobs (options, or the admin API under `/__double/`).
 *
 * @example
 * const double = await startInvokeAIDouble({ itemMs: 0, seed: 1 });
 * const invokeai = createInvokeAIClient({ baseUrl: double.url });
 * double.admin.setFaults({ error5xxRate: 1 });
 * await double.close();
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import sharp, { type Metadata } from 'sharp';
import type { ValidationIssue } from '../../../src/invokeai/errors.js';
import { invocationCatalog, openApiSchema } from '../../helpers/invokeai-openapi.js';
import { defaultDoubleModels } from './models.js';
import { asciiJson, mulberry32, renderPng, renderThumbnail } from './png.js';
import { checkEnqueueBatch } from './validate.js';

/** Fault knobs. Probabilities are 0..1, drawn from the double's seeded RNG. */
export interface DoubleFaults {
  /** ms added before answering every matching request */
  latencyMs: number;
  /** probability of answering `error5xxStatus` instead of the real answer */
  error5xxRate: number;
  /** 502, 503 or 504 */
  error5xxStatus: number;
  /** probability of destroying the connection without an answer */
  resetRate: number;
  /** probability that `/full` sends the full Content-Length, then half the bytes, then closes */
  truncateRate: number;
  /** probability that a queue item fails (`OutOfMemoryError`) */
  failItemRate: number;
  /** the next N queue items fail, whatever the rate */
  failNextItems: number;
  /** images "another client" saves to the gallery while each of our items runs */
  foreignImagesPerItem: number;
  /** put those foreign images on the same board as ours */
  foreignSameBoard: boolean;
  /** regex source; latency/5xx/reset apply only to paths matching it (null = every /api path) */
  pathPattern: string | null;
  /** ms between accepting an enqueue (counted, items queued) and answering it: a window in which the caller may die */
  enqueueAnswerDelayMs: number;
}

/** Counters for tests (e.g. proof a batch was never enqueued twice). */
export interface DoubleStats {
  enqueues: { total: number; byBatchId: Record<string, number>; byDestination: Record<string, number>; rejected: number };
  requests: number;
  faults: { latency: number; http5xx: number; resets: number; truncations: number; failedItems: number };
  items: { completed: number; failed: number; canceled: number };
  images: number;
  foreignImages: number;
}

/** Options of `startInvokeAIDouble`. */
export interface InvokeAIDoubleOptions {
  /** default 0 (a free port) */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** ms each queue item takes (default 200; 0 allowed) */
  itemMs?: number;
  /** RNG seed for fault draws and foreign images (default: time-based) */
  seed?: number;
  faults?: Partial<DoubleFaults>;
  /** model configs listed by `/api/v2/models/` (default `defaultDoubleModels()`) */
  models?: Record<string, unknown>[];
  /** default `6.14.0-alpha` */
  appVersion?: string;
}

/** Test-side control of a running double (the same operations as the `/__double/` HTTP API). */
export interface DoubleAdmin {
  faults(): DoubleFaults;
  setFaults(faults: Partial<DoubleFaults>): DoubleFaults;
  stats(): DoubleStats;
  setItemMs(ms: number): void;
  setModels(models: Record<string, unknown>[]): void;
  /** `PUT .../prune` now: deletes finished items; returns how many */
  prune(): number;
  /** `PUT .../clear` now: deletes every item; returns how many */
  clear(): number;
  /** forgets queue, images, boards, stats; faults back to the options' */
  reset(): void;
  /** `PUT .../processor/pause` / `resume` */
  pause(): void;
  resume(): void;
  /** saves an image from "another client" (other or no CID); returns its image_name */
  addForeignImage(options?: { boardId?: string; cid?: string }): Promise<string>;
  /** resolves when nothing is pending or in progress */
  idle(): Promise<void>;
  /** raw state, read-only use */
  readonly state: DoubleState;
}

/** A running double. */
export interface InvokeAIDouble {
  /** `http://host:port`, no trailing slash */
  url: string;
  port: number;
  admin: DoubleAdmin;
  close(): Promise<void>;
}

type Status = 'pending' | 'in_progress' | 'completed' | 'failed' | 'canceled';
type Json = Record<string, unknown>;
type GraphJson = { id?: string; nodes: Record<string, Json & { id: string; type: string }>; edges: EdgeJson[] };
type EdgeJson = { source: { node_id: string; field: string }; destination: { node_id: string; field: string } };

interface ItemRec {
  item_id: number;
  status: Status;
  status_sequence: number;
  priority: number;
  batch_id: string;
  origin: string | null;
  destination: string | null;
  session_id: string;
  error_type: string | null;
  error_message: string | null;
  error_traceback: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  queue_id: string;
  user_id: string;
  field_values: { node_path: string; field_name: string; value: unknown }[] | null;
  retried_from_item_id: null;
  session: {
    id: string;
    graph: GraphJson;
    execution_graph: { id: string; nodes: Json; edges: EdgeJson[] };
    executed: string[];
    executed_history: string[];
    results: Record<string, Json>;
    errors: Record<string, string>;
    prepared_source_mapping: Record<string, string>;
    source_prepared_mapping: Record<string, string[]>;
  };
  workflow: null;
}

interface ImageRec {
  seq: number;
  image_name: string;
  image_origin: 'internal' | 'external';
  image_category: string;
  width: number;
  height: number;
  created_at: string;
  updated_at: string;
  is_intermediate: boolean;
  session_id: string | null;
  node_id: string | null;
  board_id: string | null;
  starred: boolean;
  has_workflow: boolean;
  png: Buffer;
  metadata: Json | null;
  thumbnail?: Buffer;
}

interface BoardRec {
  board_id: string;
  board_name: string;
  created_at: string;
  updated_at: string;
}

/** The double's state (exposed read-only through `admin.state`). */
export interface DoubleState {
  items: Map<number, ItemRec>;
  images: Map<string, ImageRec>;
  boards: Map<string, BoardRec>;
  models: Record<string, unknown>[];
}

const DEFAULT_FAULTS: DoubleFaults = {
  latencyMs: 0,
  error5xxRate: 0,
  error5xxStatus: 503,
  resetRate: 0,
  truncateRate: 0,
  failItemRate: 0,
  failNextItems: 0,
  foreignImagesPerItem: 0,
  foreignSameBoard: false,
  pathPattern: null,
  enqueueAnswerDelayMs: 0,
};

const QUEUE_ID = 'default';

/** SQLite-style UTC timestamp, as InvokeAI stores them (`YYYY-MM-DD HH:MM:SS.fff`). */
const sqliteNow = () => new Date().toISOString().replace('T', ' ').replace('Z', '');

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}
const notFound = (detail = 'Not Found') => new HttpAnswer(404, { detail });
const unprocessable = (detail: ValidationIssue[]) => new HttpAnswer(422, { detail });
const missingQuery = (name: string) =>
  unprocessable([{ type: 'missing', loc: ['query', name], msg: 'Field required', input: null }]);

/**
 * Starts the double on `options.port` (default: a free port) and resolves once it listens.
 * @example const double = await startInvokeAIDouble({ itemMs: 0 }); // double.url
 */
export async function startInvokeAIDouble(options: InvokeAIDoubleOptions = {}): Promise<InvokeAIDouble> {
  const appVersion = options.appVersion ?? '6.14.0-alpha';
  let itemMs = options.itemMs ?? 200;
  const rand = mulberry32(options.seed ?? Date.now());
  const chance = (p: number) => p > 0 && (p >= 1 || rand() < p);
  const baseFaults = { ...DEFAULT_FAULTS, ...options.faults };
  let faults: DoubleFaults = { ...baseFaults };
  const state: DoubleState = {
    items: new Map(),
    images: new Map(),
    boards: new Map(),
    models: options.models ?? defaultDoubleModels(),
  };
  let stats = emptyStats();
  let nextItemId = 1;
  let imageSeq = 0;
  let paused = false;
  let running = false;
  let closed = false;
  let wake: (() => void) | undefined;
  let idleWaiters: (() => void)[] = [];
  const catalog = invocationCatalog(); // loads the OpenAPI once, before the first request

  // ---- queue ---------------------------------------------------------------------------------

  const counts = (items: Iterable<ItemRec>) => {
    const c = { pending: 0, in_progress: 0, waiting: 0, completed: 0, failed: 0, canceled: 0, total: 0 };
    for (const i of items) {
      c[i.status] += 1;
      c.total += 1;
    }
    return c;
  };

  function setStatus(item: ItemRec, status: Status): void {
    item.status = status;
    item.status_sequence += 1;
    item.updated_at = sqliteNow();
    if (status === 'in_progress') item.started_at = item.updated_at;
    if (status === 'completed' || status === 'failed' || status === 'canceled') item.completed_at = item.updated_at;
    if (status === 'completed' || status === 'failed' || status === 'canceled') stats.items[status] += 1;
  }

  function nextPending(): ItemRec | undefined {
    let best: ItemRec | undefined;
    for (const i of state.items.values()) {
      if (i.status !== 'pending') continue;
      if (!best || i.priority > best.priority || (i.priority === best.priority && i.item_id < best.item_id)) best = i;
    }
    return best;
  }

  function checkIdle(): void {
    if (running) return;
    const busy = [...state.items.values()].some((i) => i.status === 'pending' || i.status === 'in_progress');
    if (!busy || paused) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async function pump(): Promise<void> {
    if (running || paused || closed) return;
    running = true;
    try {
      for (let item = nextPending(); item && !paused && !closed; item = nextPending()) {
        await runItem(item);
      }
    } finally {
      running = false;
      checkIdle();
    }
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return setImmediate(resolve);
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });

  async function runItem(item: ItemRec): Promise<void> {
    setStatus(item, 'in_progress');
    await sleep(itemMs);
    if (item.status !== 'in_progress' || !state.items.has(item.item_id)) return; // canceled or cleared meanwhile
    const graph = item.session.graph;
    const prepared = new Map(Object.keys(graph.nodes).map((id) => [id, randomUUID()]));
    const s = item.session;
    for (const [src, p] of prepared) {
      s.prepared_source_mapping[p] = src;
      s.source_prepared_mapping[src] = [p];
      s.execution_graph.nodes[p] = { ...graph.nodes[src], id: p };
    }
    s.execution_graph.edges = graph.edges.map((e) => ({
      source: { node_id: prepared.get(e.source.node_id)!, field: e.source.field },
      destination: { node_id: prepared.get(e.destination.node_id)!, field: e.destination.field },
    }));

    const failure = runtimeFailure(graph);
    if (failure) return fail(item, prepared.get(failure.nodeId)!, failure.type, failure.message);
    if (faults.failNextItems > 0 || chance(faults.failItemRate)) {
      if (faults.failNextItems > 0) faults.failNextItems -= 1;
      stats.faults.failedItems += 1;
      const denoise = Object.values(graph.nodes).find((n) => n.type === 'denoise_latents') ?? Object.values(graph.nodes)[0]!;
      return fail(item, prepared.get(denoise.id)!, 'OutOfMemoryError', 'CUDA out of memory. Tried to allocate 2.00 GiB');
    }

    for (const node of Object.values(graph.nodes)) {
      const p = prepared.get(node.id)!;
      s.results[p] = await outputOf(node, graph, item, p);
      s.executed.push(p);
      s.executed_history.push(node.id);
    }
    if (item.status !== 'in_progress') return;
    setStatus(item, 'completed');
  }

  function fail(item: ItemRec, preparedId: string, type: string, message: string): void {
    item.error_type = type;
    item.error_message = message;
    item.error_traceback = `Traceback (most recent call last):\n  File "invokeai/app/services/session_processor/session_processor_default.py", line 1, in run_node\n${type}: ${message}\n`;
    item.session.errors[preparedId] = `${type}: ${message}`;
    setStatus(item, 'failed');
  }

  /** The run-time failures the real server only finds when the node runs (reference §8). */
  function runtimeFailure(graph: GraphJson): { nodeId: string; type: string; message: string } | undefined {
    const known = new Set(state.models.map((m) => m.key as string));
    for (const node of Object.values(graph.nodes)) {
      const field = node.type === 'vae_loader' ? 'vae_model' : 'model';
      const key = (node[field] as { key?: string } | null | undefined)?.key;
      if (node.type.endsWith('loader') && key !== undefined && !known.has(key)) {
        const message = node.type === 'vae_loader' ? `Unknown vae: ${key}!` : `Unknown model: ${key}`;
        return { nodeId: node.id, type: 'Exception', message };
      }
      if (node.type === 'i2l') {
        const name = (node.image as { image_name?: string } | null | undefined)?.image_name;
        if (!name || !state.images.has(name)) {
          return { nodeId: node.id, type: 'ImageFileNotFoundException', message: `Image ${name} not found` };
        }
      }
    }
    return undefined;
  }

  async function outputOf(node: GraphJson['nodes'][string], graph: GraphJson, item: ItemRec, preparedId: string): Promise<Json> {
    const outputType = catalog.get(node.type)?.outputType ?? 'unknown_output';
    const size = sizeOf(graph, node.id);
    switch (outputType) {
      case 'image_output': {
        const image = await saveGeneratedImage(node, graph, item, preparedId, size);
        return { type: outputType, image: { image_name: image.image_name }, width: image.width, height: image.height };
      }
      case 'latents_output':
        return { type: outputType, latents: { latents_name: randomUUID(), seed: null }, ...size };
      case 'noise_output':
        return { type: outputType, noise: { latents_name: randomUUID(), seed: node.seed ?? 0 }, ...size };
      case 'conditioning_output':
        return { type: outputType, conditioning: { conditioning_name: randomUUID() } };
      case 'metadata_output':
        return { type: outputType, metadata: metadataOfNode(node) };
      default:
        return { type: outputType };
    }
  }

  /** Width/height of the nearest upstream noise node (or i2l's image), px. */
  function sizeOf(graph: GraphJson, nodeId: string): { width: number; height: number; seed: number } {
    const seen = new Set<string>();
    const queue = [nodeId];
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const node = graph.nodes[id];
      if (node?.type === 'noise') {
        return { width: Number(node.width ?? 512), height: Number(node.height ?? 512), seed: Number(node.seed ?? 0) };
      }
      for (const e of graph.edges) if (e.destination.node_id === id) queue.push(e.source.node_id);
    }
    const i2l = Object.values(graph.nodes).find((n) => n.type === 'i2l');
    const init = state.images.get((i2l?.image as { image_name?: string } | undefined)?.image_name ?? '');
    return { width: init?.width ?? 512, height: init?.height ?? 512, seed: 0 };
  }

  function metadataOfNode(node: Json): Json {
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      if (['id', 'type', 'is_intermediate', 'use_cache'].includes(k) || v === null || v === undefined) continue;
      out[k] = v;
    }
    out.app_version = appVersion;
    return out;
  }

  async function saveGeneratedImage(
    node: GraphJson['nodes'][string],
    graph: GraphJson,
    item: ItemRec,
    preparedId: string,
    size: { width: number; height: number; seed: number },
  ): Promise<ImageRec> {
    const metaEdge = graph.edges.find((e) => e.destination.node_id === node.id && e.destination.field === 'metadata');
    const metaNode = metaEdge ? graph.nodes[metaEdge.source.node_id] : undefined;
    const metadata = metaNode?.type === 'core_metadata' ? metadataOfNode(metaNode) : null;
    const text: Record<string, string> = { invokeai_graph: asciiJson(graph) };
    if (metadata) text.invokeai_metadata = asciiJson(metadata);
    const png = await renderPng(size.width, size.height, size.seed, text);
    const boardId = (node.board as { board_id?: string } | null | undefined)?.board_id ?? null;
    const image = addImage({
      png,
      width: size.width,
      height: size.height,
      metadata,
      image_origin: 'internal',
      image_category: 'general',
      is_intermediate: node.is_intermediate === true,
      session_id: item.session_id,
      node_id: preparedId,
      board_id: boardId,
    });
    for (let i = 0; i < faults.foreignImagesPerItem; i++) {
      await addForeignImage({ boardId: faults.foreignSameBoard ? (boardId ?? undefined) : undefined });
    }
    return image;
  }

  function addImage(fields: Omit<ImageRec, 'seq' | 'image_name' | 'created_at' | 'updated_at' | 'starred' | 'has_workflow'>): ImageRec {
    const now = sqliteNow();
    const image: ImageRec = {
      seq: imageSeq++,
      image_name: `${randomUUID()}.png`,
      created_at: now,
      updated_at: now,
      starred: false,
      has_workflow: false,
      ...fields,
    };
    state.images.set(image.image_name, image);
    stats.images += 1;
    return image;
  }

  async function addForeignImage(opts: { boardId?: string; cid?: string } = {}): Promise<string> {
    const seed = Math.floor(rand() * 2 ** 32);
    const metadata: Json = {
      generation_mode: 'sdxl_txt2img',
      positive_prompt: 'another client’s picture',
      seed,
      width: 512,
      height: 512,
      app_version: appVersion,
      ...(opts.cid ? { photo_gallery_cid: opts.cid } : {}),
    };
    const png = await renderPng(512, 512, seed, { invokeai_metadata: asciiJson(metadata) });
    const image = addImage({
      png,
      width: 512,
      height: 512,
      metadata,
      image_origin: 'internal',
      image_category: 'general',
      is_intermediate: false,
      session_id: randomUUID(),
      node_id: randomUUID(),
      board_id: opts.boardId ?? null,
    });
    stats.foreignImages += 1;
    return image.image_name;
  }

  function enqueue(body: { batch: Json & { graph: GraphJson; data?: Json[][] | null; runs?: number }; prepend?: boolean }) {
    const batch = body.batch;
    const batchId = (batch.batch_id as string | undefined) ?? randomUUID();
    const runs = batch.runs ?? 1;
    type FV = { node_path: string; field_name: string; value: unknown };
    let combos: FV[][] = [[]];
    for (const group of batch.data ?? []) {
      const n = ((group[0]?.items as unknown[] | undefined) ?? []).length;
      const next: FV[][] = [];
      for (const c of combos) {
        for (let i = 0; i < n; i++) {
          next.push([
            ...c,
            ...group.map((d) => ({
              node_path: d.node_path as string,
              field_name: d.field_name as string,
              value: (d.items as unknown[])[i],
            })),
          ]);
        }
      }
      combos = next;
    }
    const priority = body.prepend ? Math.max(0, ...[...state.items.values()].map((i) => i.priority)) + 1 : 0;
    const ids: number[] = [];
    const now = sqliteNow();
    for (let r = 0; r < runs; r++) {
      for (const fvs of combos) {
        const graph = structuredClone(batch.graph);
        for (const fv of fvs) graph.nodes[fv.node_path]![fv.field_name] = fv.value;
        const sessionId = randomUUID();
        const item: ItemRec = {
          item_id: nextItemId++,
          status: 'pending',
          status_sequence: 0,
          priority,
          batch_id: batchId,
          origin: (batch.origin as string | null | undefined) ?? null,
          destination: (batch.destination as string | null | undefined) ?? null,
          session_id: sessionId,
          error_type: null,
          error_message: null,
          error_traceback: null,
          created_at: now,
          updated_at: now,
          started_at: null,
          completed_at: null,
          queue_id: QUEUE_ID,
          user_id: 'system',
          field_values: batch.data ? fvs : null,
          retried_from_item_id: null,
          session: {
            id: sessionId,
            graph,
            execution_graph: { id: randomUUID(), nodes: {}, edges: [] },
            executed: [],
            executed_history: [],
            results: {},
            errors: {},
            prepared_source_mapping: {},
            source_prepared_mapping: {},
          },
          workflow: null,
        };
        state.items.set(item.item_id, item);
        ids.push(item.item_id);
      }
    }
    stats.enqueues.total += 1;
    stats.enqueues.byBatchId[batchId] = (stats.enqueues.byBatchId[batchId] ?? 0) + 1;
    const dest = (batch.destination as string | null | undefined) ?? '';
    stats.enqueues.byDestination[dest] = (stats.enqueues.byDestination[dest] ?? 0) + 1;
    void pump();
    return {
      queue_id: QUEUE_ID,
      enqueued: ids.length,
      requested: ids.length,
      batch: { ...batch, batch_id: batchId, runs, origin: batch.origin ?? null, destination: batch.destination ?? null },
      priority,
      item_ids: [...ids].reverse(),
    };
  }

  function cancel(match: (i: ItemRec) => boolean): number {
    let n = 0;
    for (const item of state.items.values()) {
      if ((item.status === 'pending' || item.status === 'in_progress') && match(item)) {
        setStatus(item, 'canceled');
        n += 1;
      }
    }
    checkIdle();
    return n;
  }

  function prune(): number {
    let n = 0;
    for (const [id, item] of state.items) {
      if (item.status === 'completed' || item.status === 'failed' || item.status === 'canceled') {
        state.items.delete(id);
        n += 1;
      }
    }
    return n;
  }

  function clear(): number {
    const n = state.items.size;
    for (const item of state.items.values()) if (item.status === 'in_progress') setStatus(item, 'canceled');
    state.items.clear();
    wake?.();
    checkIdle();
    return n;
  }

  // ---- serialization -------------------------------------------------------------------------

  const imageDTO = (i: ImageRec) =>
    dropNulls({
      image_name: i.image_name,
      image_url: `api/v1/images/i/${i.image_name}/full`,
      thumbnail_url: `api/v1/images/i/${i.image_name}/thumbnail`,
      image_origin: i.image_origin,
      image_category: i.image_category,
      width: i.width,
      height: i.height,
      created_at: i.created_at,
      updated_at: i.updated_at,
      is_intermediate: i.is_intermediate,
      session_id: i.session_id,
      node_id: i.node_id,
      starred: i.starred,
      has_workflow: i.has_workflow,
      image_subfolder: '',
      board_id: i.board_id,
    });

  const boardDTO = (b: BoardRec) => {
    const images = [...state.images.values()].filter((i) => i.board_id === b.board_id);
    return {
      ...b,
      user_id: 'system',
      cover_image_name: images.at(-1)?.image_name ?? null,
      archived: false,
      board_visibility: 'private',
      image_count: images.filter((i) => i.image_category === 'general').length,
      video_count: 0,
      asset_count: images.filter((i) => i.image_category !== 'general').length,
    };
  };

  // ---- HTTP ----------------------------------------------------------------------------------

  type Ctx = { req: http.IncomingMessage; res: http.ServerResponse; url: URL; params: string[] };
  type Handler = (ctx: Ctx) => Promise<unknown> | unknown;
  const routes: { method: string; re: RegExp; handler: Handler }[] = [];
  const route = (method: string, path: string, handler: Handler) =>
    routes.push({ method, re: new RegExp(`^${path.replace(/\{[^}]+\}/g, '([^/]+)')}$`), handler });
  const Q = '/api/v1/queue/\\{q\\}'.replace('\\{q\\}', '([^/]+)');
  const queueRoute = (method: string, sub: string, handler: Handler) =>
    routes.push({
      method,
      re: new RegExp(`^${Q}${sub.replace(/\{[^}]+\}/g, '([^/]+)')}$`),
      handler: (ctx) => {
        if (ctx.params[0] !== QUEUE_ID) return notFound();
        return handler({ ...ctx, params: ctx.params.slice(1) });
      },
    });

  route('GET', '/api/v1/app/version', () => ({ version: appVersion }));

  route('GET', '/api/v2/models/', ({ url }) => {
    const modelType = url.searchParams.get('model_type');
    const bases = url.searchParams.getAll('base_models');
    const issues: ValidationIssue[] = [];
    const types = (openApiSchema('ModelType')?.enum as string[] | undefined) ?? [];
    const allBases = (openApiSchema('BaseModelType')?.enum as string[] | undefined) ?? [];
    if (modelType !== null && !types.includes(modelType)) {
      issues.push({ type: 'enum', loc: ['query', 'model_type'], msg: `Input should be one of ${types.join(', ')}`, input: modelType });
    }
    bases.forEach((b, i) => {
      if (!allBases.includes(b)) {
        issues.push({ type: 'enum', loc: ['query', 'base_models', i], msg: 'Input should be a valid BaseModelType', input: b });
      }
    });
    if (issues.length > 0) return unprocessable(issues);
    const models = state.models.filter(
      (m) => (modelType === null || m.type === modelType) && (bases.length === 0 || bases.includes(m.base as string)),
    );
    return { models: [...models].sort((a, b) => String(a.name).localeCompare(String(b.name))) };
  });

  route('GET', '/api/v2/models/i/{key}', ({ params }) => {
    const m = state.models.find((x) => x.key === decodeURIComponent(params[0]!));
    return m ?? notFound(`Model with key ${params[0]} not found`);
  });

  queueRoute('POST', '/enqueue_batch', async ({ req }) => {
    const body = await readJson(req);
    if (body instanceof HttpAnswer) return body;
    const issues = checkEnqueueBatch(body);
    if (issues.length > 0) {
      stats.enqueues.rejected += 1;
      return unprocessable(issues);
    }
    const result = enqueue(body as Parameters<typeof enqueue>[0]);
    if (faults.enqueueAnswerDelayMs > 0) await new Promise((r) => setTimeout(r, faults.enqueueAnswerDelayMs));
    return result;
  });

  queueRoute('GET', '/i/{id}', ({ params }) => {
    const item = state.items.get(Number(params[0]));
    // response_model_exclude_none=True: null fields are left out (reference §3.2)
    return item ? dropNullsDeep(item) : notFound();
  });
  queueRoute('PUT', '/i/{id}/cancel', ({ params }) => {
    const item = state.items.get(Number(params[0]));
    if (!item) return notFound();
    cancel((i) => i === item);
    return item;
  });
  queueRoute('DELETE', '/i/{id}', ({ params }) => {
    state.items.delete(Number(params[0]));
    return null;
  });
  queueRoute('POST', '/items_by_ids', async ({ req }) => {
    const body = await readJson(req);
    if (body instanceof HttpAnswer) return body;
    const ids = (body as { item_ids?: unknown }).item_ids;
    if (!Array.isArray(ids)) return unprocessable([{ type: 'missing', loc: ['body', 'item_ids'], msg: 'Field required', input: body }]);
    return ids.map((id) => state.items.get(Number(id))).filter((i): i is ItemRec => i !== undefined);
  });
  queueRoute('GET', '/b/{batch_id}/status', ({ params }) => {
    const batchId = decodeURIComponent(params[0]!);
    const items = [...state.items.values()].filter((i) => i.batch_id === batchId);
    return {
      queue_id: QUEUE_ID,
      batch_id: batchId,
      origin: items[0]?.origin ?? null,
      destination: items[0]?.destination ?? null,
      ...counts(items),
    };
  });
  queueRoute('GET', '/list_all', ({ url }) => {
    const destination = url.searchParams.get('destination');
    return [...state.items.values()]
      .filter((i) => destination === null || i.destination === destination)
      .sort((a, b) => b.priority - a.priority || a.item_id - b.item_id);
  });
  queueRoute('GET', '/status', () => {
    const current = [...state.items.values()].find((i) => i.status === 'in_progress');
    return {
      queue: {
        queue_id: QUEUE_ID,
        item_id: current?.item_id ?? null,
        batch_id: current?.batch_id ?? null,
        session_id: current?.session_id ?? null,
        ...counts(state.items.values()),
        user_pending: null,
        user_in_progress: null,
      },
      processor: { is_started: true, is_processing: !paused && current !== undefined },
    };
  });
  queueRoute('PUT', '/cancel_by_batch_ids', async ({ req }) => {
    const body = await readJson(req);
    if (body instanceof HttpAnswer) return body;
    const ids = (body as { batch_ids?: unknown }).batch_ids;
    if (!Array.isArray(ids)) return unprocessable([{ type: 'missing', loc: ['body', 'batch_ids'], msg: 'Field required', input: body }]);
    return { canceled: cancel((i) => ids.includes(i.batch_id)) };
  });
  queueRoute('PUT', '/cancel_by_destination', ({ url }) => {
    const destination = url.searchParams.get('destination');
    if (destination === null) return missingQuery('destination');
    return { canceled: cancel((i) => i.destination === destination) };
  });
  queueRoute('PUT', '/prune', () => ({ deleted: prune() }));
  queueRoute('PUT', '/clear', () => ({ deleted: clear() }));
  queueRoute('PUT', '/processor/pause', () => {
    admin.pause();
    return { is_started: true, is_processing: false };
  });
  queueRoute('PUT', '/processor/resume', () => {
    admin.resume();
    return { is_started: true, is_processing: true };
  });

  route('GET', '/api/v1/images/', ({ url }) => {
    const sp = url.searchParams;
    const boardId = sp.get('board_id');
    const isIntermediate = sp.get('is_intermediate');
    const origin = sp.get('image_origin');
    const categories = sp.getAll('categories');
    const offset = Number(sp.get('offset') ?? 0);
    const limit = Number(sp.get('limit') ?? 10);
    const dir = (sp.get('order_dir') ?? 'DESC').toUpperCase();
    const all = [...state.images.values()]
      .filter((i) => boardId === null || (boardId === 'none' ? i.board_id === null : i.board_id === boardId))
      .filter((i) => isIntermediate === null || String(i.is_intermediate) === isIntermediate)
      .filter((i) => origin === null || i.image_origin === origin)
      .filter((i) => categories.length === 0 || categories.includes(i.image_category))
      .sort((a, b) => (dir === 'ASC' ? a.seq - b.seq : b.seq - a.seq));
    return { limit, offset, total: all.length, items: all.slice(offset, offset + limit).map(imageDTO) };
  });

  route('POST', '/api/v1/images/upload', async ({ req, url, res }) => {
    const category = url.searchParams.get('image_category');
    const intermediate = url.searchParams.get('is_intermediate');
    if (category === null) return missingQuery('image_category');
    if (intermediate === null) return missingQuery('is_intermediate');
    const boardId = url.searchParams.get('board_id');
    if (boardId && !state.boards.has(boardId)) return notFound('Board not found');
    const raw = await readBody(req);
    let file: File | null;
    try {
      const form = await new Request('http://double/', {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body: raw,
      }).formData();
      file = form.get('file') as File | null;
    } catch {
      file = null;
    }
    if (!file || typeof file === 'string') {
      return unprocessable([{ type: 'missing', loc: ['body', 'file'], msg: 'Field required', input: null }]);
    }
    if (!file.type.startsWith('image')) return new HttpAnswer(415, { detail: 'Not an image' });
    let png: Buffer;
    let meta: Metadata;
    try {
      const bytes = Buffer.from(await file.arrayBuffer());
      meta = await sharp(bytes).metadata();
      png = await sharp(bytes).png({ compressionLevel: 1 }).toBuffer();
    } catch {
      return new HttpAnswer(415, { detail: 'Failed to read image' });
    }
    const image = addImage({
      png,
      width: meta.width ?? 0,
      height: meta.height ?? 0,
      metadata: null,
      image_origin: 'external',
      image_category: category,
      is_intermediate: intermediate === 'true',
      session_id: url.searchParams.get('session_id'),
      node_id: null,
      board_id: boardId,
    });
    res.setHeader('Location', `api/v1/images/i/${image.image_name}/full`);
    return new HttpAnswer(201, imageDTO(image));
  });

  const imageRoute = (suffix: string, handler: (img: ImageRec, ctx: Ctx) => unknown) =>
    route('GET', `/api/v1/images/i/{name}${suffix}`, (ctx) => {
      const img = state.images.get(decodeURIComponent(ctx.params[0]!));
      return img ? handler(img, ctx) : notFound();
    });
  imageRoute('', (img) => imageDTO(img));
  imageRoute('/metadata', (img) => img.metadata);
  imageRoute('/thumbnail', async (img, { res }) => {
    img.thumbnail ??= await renderThumbnail(img.png);
    res.writeHead(200, { 'content-type': 'image/webp', 'content-length': img.thumbnail.length });
    res.end(img.thumbnail);
    return RAW;
  });
  imageRoute('/full', (img, { req, res }) => {
    const headers = {
      'content-type': 'image/png',
      'content-length': img.png.length,
      'content-disposition': `inline; filename="${img.image_name}"`,
      'cache-control': 'max-age=31536000',
    };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers);
      res.end();
    } else if (chance(faults.truncateRate)) {
      stats.faults.truncations += 1;
      res.writeHead(200, headers);
      res.write(img.png.subarray(0, Math.floor(img.png.length / 2)), () => res.socket?.destroy());
    } else {
      res.writeHead(200, headers);
      res.end(img.png);
    }
    return RAW;
  });

  route('POST', '/api/v1/boards/', ({ url }) => {
    const name = url.searchParams.get('board_name');
    if (name === null) return missingQuery('board_name');
    const now = sqliteNow();
    const board: BoardRec = { board_id: randomUUID(), board_name: name, created_at: now, updated_at: now };
    state.boards.set(board.board_id, board);
    return new HttpAnswer(201, boardDTO(board));
  });
  route('GET', '/api/v1/boards/', ({ url }) => {
    const boards = [...state.boards.values()].map(boardDTO);
    if (url.searchParams.get('all') === 'true') return boards;
    const offset = url.searchParams.get('offset');
    const limit = url.searchParams.get('limit');
    if (offset === null || limit === null) {
      return new HttpAnswer(400, { detail: "Invalid request: Must provide either 'all' or both 'offset' and 'limit'" });
    }
    return { limit: Number(limit), offset: Number(offset), total: boards.length, items: boards.slice(Number(offset), Number(offset) + Number(limit)) };
  });
  route('GET', '/api/v1/boards/{id}', ({ params }) => {
    const b = state.boards.get(decodeURIComponent(params[0]!));
    return b ? boardDTO(b) : notFound();
  });

  // ---- admin API (/__double/) ----------------------------------------------------------------

  const adminRoutes: { method: string; path: string; handler: Handler }[] = [
    { method: 'GET', path: '/__double/stats', handler: () => admin.stats() },
    { method: 'GET', path: '/__double/faults', handler: () => admin.faults() },
    {
      method: 'POST',
      path: '/__double/faults',
      handler: async ({ req }) => {
        const body = await readJson(req);
        return body instanceof HttpAnswer ? body : admin.setFaults(body as Partial<DoubleFaults>);
      },
    },
    { method: 'POST', path: '/__double/prune', handler: () => ({ deleted: admin.prune() }) },
    { method: 'POST', path: '/__double/clear', handler: () => ({ deleted: admin.clear() }) },
    { method: 'POST', path: '/__double/reset', handler: () => (admin.reset(), { ok: true }) },
    {
      method: 'POST',
      path: '/__double/item-ms',
      handler: async ({ req }) => {
        const body = (await readJson(req)) as { ms?: number };
        admin.setItemMs(Number(body.ms ?? 200));
        return { itemMs };
      },
    },
    {
      method: 'POST',
      path: '/__double/models',
      handler: async ({ req }) => {
        const body = (await readJson(req)) as { models?: Record<string, unknown>[] };
        admin.setModels(body.models ?? defaultDoubleModels());
        return { models: state.models.length };
      },
    },
    {
      method: 'POST',
      path: '/__double/foreign-images',
      handler: async ({ req }) => {
        const body = (await readJson(req)) as { board_id?: string; cid?: string; count?: number };
        const names: string[] = [];
        for (let i = 0; i < (body.count ?? 1); i++) names.push(await admin.addForeignImage({ boardId: body.board_id, cid: body.cid }));
        return { image_names: names };
      },
    },
  ];

  const RAW = Symbol('raw');

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const path = url.pathname;
    const adminRoute = adminRoutes.find((r) => r.method === req.method && r.path === path);
    if (adminRoute) return reply(res, await adminRoute.handler({ req, res, url, params: [] }));

    stats.requests += 1;
    const faulty = faults.pathPattern === null ? path.startsWith('/api/') : new RegExp(faults.pathPattern).test(path);
    if (faulty) {
      if (faults.latencyMs > 0) {
        stats.faults.latency += 1;
        await new Promise((r) => setTimeout(r, faults.latencyMs));
      }
      if (chance(faults.resetRate)) {
        stats.faults.resets += 1;
        req.socket.destroy();
        return;
      }
      if (chance(faults.error5xxRate)) {
        stats.faults.http5xx += 1;
        return reply(res, new HttpAnswer(faults.error5xxStatus, { detail: 'Service Unavailable' }));
      }
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    for (const r of routes) {
      if (r.method !== method) continue;
      const m = r.re.exec(path);
      if (!m) continue;
      return reply(res, await r.handler({ req, res, url, params: m.slice(1) }));
    }
    return reply(res, notFound());
  }

  function reply(res: http.ServerResponse, result: unknown): void {
    if (result === RAW || res.headersSent) return;
    const answer = result instanceof HttpAnswer ? result : new HttpAnswer(200, result ?? null);
    const text = JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  // ---- admin ---------------------------------------------------------------------------------

  const admin: DoubleAdmin = {
    state,
    faults: () => ({ ...faults }),
    setFaults(f) {
      faults = { ...faults, ...f };
      return { ...faults };
    },
    stats: () => structuredClone(stats),
    setItemMs(ms) {
      itemMs = ms;
    },
    setModels(models) {
      state.models = models;
    },
    prune,
    clear,
    reset() {
      clear();
      state.images.clear();
      state.boards.clear();
      stats = emptyStats();
      faults = { ...baseFaults };
    },
    pause() {
      paused = true;
      checkIdle();
    },
    resume() {
      paused = false;
      void pump();
    },
    addForeignImage,
    idle: () =>
      new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        checkIdle();
      }),
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) reply(res, new HttpAnswer(500, { detail: `Double error: ${String(err)}` }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}`,
    port,
    admin,
    async close() {
      closed = true;
      wake?.();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function emptyStats(): DoubleStats {
  return {
    enqueues: { total: 0, byBatchId: {}, byDestination: {}, rejected: 0 },
    requests: 0,
    faults: { latency: 0, http5xx: 0, resets: 0, truncations: 0, failedItems: 0 },
    items: { completed: 0, failed: 0, canceled: 0 },
    images: 0,
    foreignImages: 0,
  };
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The JSON body, or FastAPI's 422 `json_invalid` answer. */
async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const text = (await readBody(req)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    return unprocessable([
      { type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: String(err) } },
    ]);
  }
}

function dropNulls<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as Partial<T>;
}

function dropNullsDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNullsDeep);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== null && x !== undefined)
        .map(([k, x]) => [k, dropNullsDeep(x)]),
    );
  }
  return v;
}

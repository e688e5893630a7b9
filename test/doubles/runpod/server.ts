/**
 * RunPod test double: an HTTP server speaking REST v2 (`/v2/pods…`, `/v2/catalog/gpus…`) per
 * ../shared/reference/runpod-api.md §2 and §10 and runpod-openapi-v2.json, plus a pod HTTP proxy
 * and an admin API for faults and state.
 *
 * - Bearer auth: missing/wrong key → 401 problem JSON; the optional read-only key → 403 on writes.
 * - Errors are `application/problem+json` `{title, status, detail, errors?}`; `/v1/*` → 410.
 * - Create bodies are validated against the spec's `CreatePodRequest` (ajv, JSON Schema 2020-12)
 *   → 422 with `errors[]`, then the handler rules (gpu xor cpu, CUDA fields, mounts) → 400.
 * - `status` advances lazily by the clock: PROVISIONING (provisioningMs) → STARTING (startingMs)
 *   → RUNNING; `runtime` appears runtimeMs after RUNNING; the proxy answers readyDelayMs after
 *   RUNNING. `stop` → EXITED (`cost` 0), `terminate`/DELETE → gone (GET 404, absent from list).
 * - Proxy: `/proxy/{pod_id}/{port}/…` forwards (HTTP and WebSocket upgrades) to `invokeaiUrl`
 *   only while the pod is RUNNING, ready, and `port` is one of its `/http` ports; otherwise 502
 *   like RunPod's proxy when nothing answers on the port (reference §8), 404 for an unknown pod.
 * - Admin (no auth): `GET /__double/state`, `POST /__double/faults`, `POST /__double/reset`,
 *   `POST /__double/pods` (add a foreign pod), `POST /__double/pods/{id}/status`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { CreatePodRequest } from '../../../src/runpod/schemas.js';

/** Time-driven behaviour, in ms. */
export interface RunPodDoubleTimings {
  /** PROVISIONING → STARTING, default 100 */
  provisioningMs: number;
  /** STARTING → RUNNING, default 200 */
  startingMs: number;
  /** RUNNING → `runtime` (ports, uptime) reported, default 0 */
  runtimeMs: number;
  /** RUNNING → proxy forwards (RUNNING is not readiness, reference §8), default 0 */
  readyDelayMs: number;
}

/** Fault knobs. Counters mean "the next N calls"; booleans hold until changed. */
export interface RunPodDoubleFaults {
  /** next N creates make the pod, then answer 500 (ghost pod, reference §3) */
  createThen500: number;
  /** next N `stop` actions answer 500 and leave the pod as it was */
  stopFailures: number;
  /** pods created/started while set stay in STARTING forever */
  stuckInStarting: boolean;
  /** creates answer 400 "There are no longer any instances available…"; catalog says NONE */
  noCapacity: boolean;
  /** creates answer 402 */
  insufficientBalance: boolean;
  /** next N authenticated `/v2` requests answer 429 with `Retry-After: retryAfterS` */
  rateLimited: number;
  /** seconds in `Retry-After` of those 429s, default 2 */
  retryAfterS: number;
  /** next N authenticated `/v2` requests answer 500 before doing anything */
  serverErrors: number;
  /** next N `start` actions answer 400 "not enough free GPUs on the host machine" */
  hostNoGpuOnStart: number;
  /** the proxy answers 502 forever although pods are RUNNING */
  neverReady: boolean;
  /** every `/v2` response is delayed this long (ms) */
  delayMs: number;
}

/** A catalog entry of the double (v2 `GpuType` without availability). Prices USD/h per GPU. */
export interface DoubleGpuType {
  id: string;
  name: string;
  memory: number;
  price: { secure: number; community: number };
}

/** Options of `startRunPodDouble`. */
export interface RunPodDoubleOptions {
  /** default 0 (any free port) */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** the accepted bearer key, default `rpa_DOUBLE_KEY` */
  apiKey?: string;
  /** a key allowed to GET only (writes → 403) */
  readOnlyApiKey?: string;
  /** where the proxy forwards for every pod (the InvokeAI double) */
  invokeaiUrl?: string;
  timings?: Partial<RunPodDoubleTimings>;
  faults?: Partial<RunPodDoubleFaults>;
  /** the GPU catalog, default `DEFAULT_GPU_TYPES` */
  gpuTypes?: DoubleGpuType[];
  /** pod `cost` = list price × count × this (e.g. 0.8 for a negotiated discount), default 1 */
  billedRateFactor?: number;
}

/** One pod as the admin API reports it (terminated pods included). `accruedUsd` is the compute bill so far. */
export interface DoublePodState {
  id: string;
  name: string;
  status: string;
  /** USD/h now */
  cost: number;
  gpuTypeId: string | null;
  createdAt: string;
  startedAt: string | null;
  /** the proxy forwards now */
  ready: boolean;
  /** added via the admin API, not via create */
  foreign: boolean;
  /** ms billed so far */
  billedMs: number;
  /** USD billed so far */
  accruedUsd: number;
}

/** What `GET /__double/state` answers. */
export interface RunPodDoubleState {
  pods: DoublePodState[];
  /** POST /v2/pods calls that got past auth */
  createCalls: number;
  /** create calls that made a pod (ghost pods included) */
  podsCreated: number;
  /** pod actions received, by action (including failed ones) */
  actionCalls: Record<string, number>;
  faults: RunPodDoubleFaults;
}

/** Programmatic admin interface (same as the `/__double/` HTTP API). */
export interface RunPodDoubleAdmin {
  state(): RunPodDoubleState;
  /** merges `faults` into the current ones and returns them */
  setFaults(faults: Partial<RunPodDoubleFaults>): RunPodDoubleFaults;
  /** adds a pod to the account without a create call (orphan-sweep tests); default RUNNING */
  addPod(input: { name: string; status?: string; gpuTypeId?: string; ports?: string[] }): Record<string, unknown>;
  /** forces a pod's status (e.g. ERROR); RUNNING makes it ready at once */
  setPodStatus(podId: string, status: string): void;
  setInvokeaiUrl(url: string | undefined): void;
  /** forgets all pods, counters and faults */
  reset(): void;
}

/** A running double. `apiUrl` is the REST v2 base (`…/v2`); `proxyUrlTemplate` has `{pod_id}` and `{port}`. */
export interface RunPodDouble {
  url: string;
  apiUrl: string;
  proxyUrlTemplate: string;
  port: number;
  apiKey: string;
  admin: RunPodDoubleAdmin;
  close(): Promise<void>;
}

/** Example catalog (list prices are plausible, not RunPod's). */
export const DEFAULT_GPU_TYPES: DoubleGpuType[] = [
  { id: 'NVIDIA RTX A4000', name: 'RTX A4000', memory: 16, price: { secure: 0.25, community: 0.17 } },
  { id: 'NVIDIA RTX A5000', name: 'RTX A5000', memory: 24, price: { secure: 0.27, community: 0.16 } },
  { id: 'NVIDIA RTX A6000', name: 'RTX A6000', memory: 48, price: { secure: 0.49, community: 0.33 } },
  { id: 'NVIDIA L4', name: 'L4', memory: 24, price: { secure: 0.43, community: 0.3 } },
  { id: 'NVIDIA GeForce RTX 3090', name: 'RTX 3090', memory: 24, price: { secure: 0.46, community: 0.22 } },
  { id: 'NVIDIA GeForce RTX 4090', name: 'RTX 4090', memory: 24, price: { secure: 0.69, community: 0.34 } },
];

const DEFAULT_TIMINGS: RunPodDoubleTimings = { provisioningMs: 100, startingMs: 200, runtimeMs: 0, readyDelayMs: 0 };
const NO_FAULTS: RunPodDoubleFaults = {
  createThen500: 0,
  stopFailures: 0,
  stuckInStarting: false,
  noCapacity: false,
  insufficientBalance: false,
  rateLimited: 0,
  retryAfterS: 2,
  serverErrors: 0,
  hostNoGpuOnStart: 0,
  neverReady: false,
  delayMs: 0,
};

/** RunPod's exact capacity-refusal `detail` on create (reference §2.4). */
export const NO_CAPACITY_DETAIL =
  'There are no longer any instances available with the requested specifications. Please refresh and try again.';
/** RunPod's message when a stopped pod's host has no free GPU on start (reference §3, §5). */
export const HOST_NO_GPU_DETAIL = 'There are not enough free GPUs on the host machine to start this pod.';
const SOMETHING_WENT_WRONG = 'Something went wrong. Please try again later or contact support.';

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

const ACTIONS_BY_STATUS: Record<string, string[]> = {
  PROVISIONING: ['stop', 'terminate'],
  STARTING: ['stop', 'terminate'],
  RUNNING: ['stop', 'restart', 'terminate'],
  EXITED: ['start', 'terminate'],
  ERROR: ['start', 'terminate'],
  TERMINATED: [],
};
const BILLING = new Set(['PROVISIONING', 'STARTING', 'RUNNING', 'ERROR']);

interface PodRecord {
  id: string;
  name: string;
  image: string;
  args: string;
  disk: number;
  ports: string[];
  env: Record<string, string>;
  registry: string | null;
  mounts: Record<string, unknown>;
  gpu: { id: string; count: number } | null;
  cpu: { id: string; vcpuCount: number; memory: number } | null;
  cloud: 'SECURE' | 'COMMUNITY';
  dataCenterId: string;
  globalNetworking: boolean;
  status: string;
  /** when the current status began (epoch ms) */
  enteredAt: number;
  createdAt: number;
  startedAt: number | null;
  stuck: boolean;
  publicIp: string | null;
  tcpPublic: Map<number, number>;
  /** USD/h while billing */
  rate: number;
  billingSince: number | null;
  billedMs: number;
  foreign: boolean;
  deleted: boolean;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors?: string[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

function loadValidators(): { createPod: ValidateFunction; podAction: ValidateFunction } {
  const doc = JSON.parse(readFileSync(new URL('./openapi-v2-schemas.json', import.meta.url), 'utf8')) as object;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ ...doc, $id: 'runpod-v2' });
  return {
    createPod: ajv.getSchema('runpod-v2#/components/schemas/CreatePodRequest')!,
    podAction: ajv.getSchema('runpod-v2#/components/schemas/PodActionRequest')!,
  };
}

/** Ajv errors → RunPod's `errors[]` strings, e.g. `$: additional properties 'bogus' not allowed`. */
function ajvMessages(errors: ErrorObject[] | null | undefined): string[] {
  const out: string[] = [];
  for (const e of errors ?? []) {
    if (e.keyword === 'if') continue;
    const where =
      '$' +
      e.instancePath
        .split('/')
        .slice(1)
        .map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`))
        .join('');
    const p = e.params as Record<string, unknown>;
    let msg: string;
    if (e.keyword === 'unevaluatedProperties' || e.keyword === 'additionalProperties') {
      msg = `additional properties '${String(p.unevaluatedProperty ?? p.additionalProperty)}' not allowed`;
    } else if (e.keyword === 'enum') {
      msg = `value must be one of ${(p.allowedValues as unknown[]).map((v) => `'${String(v)}'`).join(', ')}`;
    } else if (e.keyword === 'required') {
      msg = `missing property '${String(p.missingProperty)}'`;
    } else {
      msg = e.message ?? e.keyword;
    }
    const line = `${where}: ${msg}`;
    if (!out.includes(line)) out.push(line);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const newPodId = () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(14), (b) => alphabet[b % alphabet.length]).join('');
};

/**
 * Starts the double on `options.port` (default: a free port) and resolves once it listens.
 * @example
 * const rp = await startRunPodDouble({ invokeaiUrl: 'http://127.0.0.1:9090' });
 * const client = createRunPodClient({ apiKey: rp.apiKey, baseUrl: rp.apiUrl, proxyUrlTemplate: rp.proxyUrlTemplate });
 */
export async function startRunPodDouble(options: RunPodDoubleOptions = {}): Promise<RunPodDouble> {
  const apiKey = options.apiKey ?? 'rpa_DOUBLE_KEY';
  const timings: RunPodDoubleTimings = { ...DEFAULT_TIMINGS, ...options.timings };
  const gpuTypes = options.gpuTypes ?? DEFAULT_GPU_TYPES;
  const rateFactor = options.billedRateFactor ?? 1;
  let invokeaiUrl = options.invokeaiUrl;
  let faults: RunPodDoubleFaults = { ...NO_FAULTS, ...options.faults };
  const pods = new Map<string, PodRecord>();
  let createCalls = 0;
  let podsCreated = 0;
  let actionCalls: Record<string, number> = {};
  const validators = loadValidators();
  const sockets = new Set<Duplex>();

  // ---- pod model ------------------------------------------------------------------------------

  function enter(pod: PodRecord, status: string, at: number): void {
    if (BILLING.has(pod.status) && !BILLING.has(status) && pod.billingSince !== null) {
      pod.billedMs += at - pod.billingSince;
      pod.billingSince = null;
    } else if (!BILLING.has(pod.status) && BILLING.has(status)) {
      pod.billingSince = at;
    }
    pod.status = status;
    pod.enteredAt = at;
    if (status === 'RUNNING') {
      pod.startedAt = at;
      pod.publicIp = `203.0.113.${randomInt(1, 255)}`;
      pod.tcpPublic = new Map(
        pod.ports.filter((p) => p.endsWith('/tcp')).map((p) => [Number.parseInt(p, 10), randomInt(10_000, 60_000)]),
      );
    } else {
      pod.publicIp = null;
      pod.tcpPublic = new Map();
    }
  }

  /** Applies the time-driven transitions due by `now`. */
  function advance(pod: PodRecord, now: number): void {
    if (pod.status === 'PROVISIONING' && now >= pod.enteredAt + timings.provisioningMs) {
      enter(pod, 'STARTING', pod.enteredAt + timings.provisioningMs);
    }
    if (pod.status === 'STARTING' && !pod.stuck && now >= pod.enteredAt + timings.startingMs) {
      enter(pod, 'RUNNING', pod.enteredAt + timings.startingMs);
    }
  }

  function advanceAll(now = Date.now()): void {
    for (const pod of pods.values()) if (!pod.deleted) advance(pod, now);
  }

  const cost = (pod: PodRecord) => (BILLING.has(pod.status) ? pod.rate : 0);
  const isReady = (pod: PodRecord, now: number) =>
    !pod.deleted && pod.status === 'RUNNING' && !faults.neverReady && now >= pod.enteredAt + timings.readyDelayMs;

  function podJson(pod: PodRecord, now = Date.now()): Record<string, unknown> {
    const hasRuntime = pod.status === 'RUNNING' && now >= pod.enteredAt + timings.runtimeMs;
    const runtime = hasRuntime
      ? {
          uptime: Math.floor((now - pod.enteredAt) / 1000),
          gpus: Array.from({ length: pod.gpu?.count ?? 0 }, () => ({ util: 0, memoryUtil: 0 })),
          cpu: { util: 1 },
          memory: { util: 5 },
          ports: pod.ports.map((spec) => {
            const priv = Number.parseInt(spec, 10);
            const type = spec.split('/')[1] ?? 'http';
            return type === 'tcp'
              ? { private: priv, public: pod.tcpPublic.get(priv) ?? null, type, ip: pod.publicIp }
              : { private: priv, public: null, type, ip: null };
          }),
        }
      : null;
    const sshPort = pod.tcpPublic.get(22);
    const sshUser = `${pod.id}-64411eb2`;
    return {
      id: pod.id,
      name: pod.name,
      image: pod.image,
      args: pod.args,
      disk: pod.disk,
      ports: pod.ports,
      env: pod.env,
      registry: pod.registry,
      status: pod.status,
      actions: ACTIONS_BY_STATUS[pod.status] ?? [],
      mounts: pod.mounts,
      ...(pod.gpu ? { gpu: pod.gpu } : {}),
      ...(pod.cpu ? { cpu: pod.cpu } : {}),
      cloud: pod.cloud,
      dataCenterId: pod.dataCenterId,
      cudaVersion: pod.gpu ? '12.8' : null,
      ssh: {
        proxy: { host: 'ssh.runpod.io', port: 22, username: sshUser, command: `ssh ${sshUser}@ssh.runpod.io` },
        direct:
          hasRuntime && sshPort !== undefined && pod.publicIp
            ? { host: pod.publicIp, port: sshPort, username: 'root', command: `ssh root@${pod.publicIp} -p ${sshPort}` }
            : null,
      },
      template: null,
      cost: cost(pod),
      locked: false,
      globalNetworking: { enabled: pod.globalNetworking },
      runtime,
      createdAt: iso(pod.createdAt),
      startedAt: iso(pod.startedAt),
    };
  }

  function newPod(fields: Partial<PodRecord> & { name: string }, status: string, now: number): PodRecord {
    const pod: PodRecord = {
      id: newPodId(),
      image: 'runpod/base:latest',
      args: '',
      disk: 50,
      ports: [],
      env: {},
      registry: null,
      mounts: {},
      gpu: null,
      cpu: null,
      cloud: 'SECURE',
      dataCenterId: 'EU-RO-1',
      globalNetworking: false,
      status: 'EXITED',
      enteredAt: now,
      createdAt: now,
      startedAt: null,
      stuck: faults.stuckInStarting,
      publicIp: null,
      tcpPublic: new Map(),
      rate: 0,
      billingSince: null,
      billedMs: 0,
      foreign: false,
      deleted: false,
      ...fields,
    };
    enter(pod, status, now);
    pods.set(pod.id, pod);
    return pod;
  }

  function podState(pod: PodRecord, now: number): DoublePodState {
    const billedMs = pod.billedMs + (pod.billingSince !== null ? now - pod.billingSince : 0);
    return {
      id: pod.id,
      name: pod.name,
      status: pod.deleted ? 'TERMINATED' : pod.status,
      cost: pod.deleted ? 0 : cost(pod),
      gpuTypeId: pod.gpu?.id ?? null,
      createdAt: iso(pod.createdAt)!,
      startedAt: iso(pod.startedAt),
      ready: isReady(pod, now),
      foreign: pod.foreign,
      billedMs,
      accruedUsd: (pod.rate * billedMs) / 3_600_000,
    };
  }

  const gpuPrice = (gpuId: string, cloud: 'SECURE' | 'COMMUNITY') => {
    const t = gpuTypes.find((g) => g.id === gpuId);
    return t ? (cloud === 'COMMUNITY' ? t.price.community : t.price.secure) : undefined;
  };

  // ---- admin ----------------------------------------------------------------------------------

  const admin: RunPodDoubleAdmin = {
    state() {
      const now = Date.now();
      advanceAll(now);
      return {
        pods: [...pods.values()].map((p) => podState(p, now)),
        createCalls,
        podsCreated,
        actionCalls: { ...actionCalls },
        faults: { ...faults },
      };
    },
    setFaults(f) {
      const known = Object.fromEntries(Object.entries(f).filter(([k]) => k in NO_FAULTS));
      faults = { ...faults, ...known };
      return { ...faults };
    },
    addPod({ name, status = 'RUNNING', gpuTypeId = gpuTypes[0]?.id ?? 'NVIDIA RTX A5000', ports = ['9090/http'] }) {
      if (!(status in ACTIONS_BY_STATUS) || status === 'TERMINATED') throw new HttpProblem(400, `bad status ${status}`);
      const now = Date.now();
      const pod = newPod(
        { name, ports, gpu: { id: gpuTypeId, count: 1 }, rate: (gpuPrice(gpuTypeId, 'SECURE') ?? 0.5) * rateFactor, foreign: true, stuck: false },
        status,
        now,
      );
      return podJson(pod, now);
    },
    setPodStatus(podId, status) {
      const pod = pods.get(podId);
      if (!pod || pod.deleted) throw new HttpProblem(404, 'pod not found');
      if (!(status in ACTIONS_BY_STATUS)) throw new HttpProblem(400, `bad status ${status}`);
      const now = Date.now();
      advance(pod, now);
      if (status === 'TERMINATED') pod.deleted = true;
      enter(pod, status, now);
      if (status === 'RUNNING') {
        // ready and reporting runtime at once; billing still starts now
        pod.enteredAt = now - Math.max(timings.readyDelayMs, timings.runtimeMs);
        pod.stuck = false;
      }
    },
    setInvokeaiUrl(url) {
      invokeaiUrl = url;
    },
    reset() {
      pods.clear();
      createCalls = 0;
      podsCreated = 0;
      actionCalls = {};
      faults = { ...NO_FAULTS };
    },
  };

  // ---- REST v2 --------------------------------------------------------------------------------

  /** Schema (422) then handler rules (400/404), in RunPod's order; returns the body typed. */
  function validateCreate(body: unknown): CreatePodRequest {
    if (!validators.createPod(body)) {
      throw new HttpProblem(422, 'Request validation failed.', ajvMessages(validators.createPod.errors));
    }
    const b = body as CreatePodRequest;
    if ((b.gpu === undefined) === (b.cpu === undefined)) throw new HttpProblem(400, 'exactly one of gpu or cpu must be set');
    if (b.gpu?.allowedCudaVersions?.length && b.gpu.minCudaVersion !== undefined) {
      throw new HttpProblem(400, 'allowedCudaVersions and minCudaVersion are mutually exclusive');
    }
    if (b.mounts?.persistent && b.mounts?.network) throw new HttpProblem(400, 'at most one of mounts.persistent and mounts.network may be set');
    if (b.cpu && b.mounts?.persistent) throw new HttpProblem(400, 'mounts.persistent is not allowed on CPU pods');
    if (b.templateId !== undefined) throw new HttpProblem(404, `template ${String(b.templateId)} not found`);
    const gpuId = b.gpu?.id;
    if (gpuId !== undefined && !gpuTypes.some((g) => g.id === gpuId)) throw new HttpProblem(400, `unknown GPU type '${gpuId}'`);
    return b;
  }

  function createPod(input: unknown): { pod: PodRecord; ghost: boolean } {
    createCalls++;
    const body = validateCreate(input);
    if (faults.insufficientBalance) {
      throw new HttpProblem(402, 'Insufficient balance: deploying requires at least one hour of credit for this configuration.');
    }
    if (faults.noCapacity) throw new HttpProblem(400, NO_CAPACITY_DETAIL);
    const cloud = body.cloud === 'COMMUNITY' ? 'COMMUNITY' : 'SECURE';
    const gpu = body.gpu ? { id: String(body.gpu.id), count: Number(body.gpu.count ?? 1) } : null;
    const cpu = body.cpu ? { id: String(body.cpu.id), vcpuCount: Number(body.cpu.vcpuCount), memory: Number(body.cpu.vcpuCount) * 2 } : null;
    const rate = gpu ? gpuPrice(gpu.id, cloud)! * gpu.count * rateFactor : 0.03 * cpu!.vcpuCount * rateFactor;
    const pod = newPod(
      {
        name: body.name,
        image: body.image ?? '',
        args: body.args ?? '',
        disk: body.disk ?? 50,
        ports: body.ports ?? [],
        env: body.env ?? {},
        registry: body.registry ?? null,
        mounts: body.mounts ?? {},
        gpu,
        cpu,
        cloud,
        dataCenterId: body.dataCenterIds?.[0] ?? 'EU-RO-1',
        globalNetworking: body.globalNetworking ?? false,
        rate: Math.round(rate * 1e6) / 1e6,
      },
      'PROVISIONING',
      Date.now(),
    );
    podsCreated++;
    const ghost = faults.createThen500 > 0;
    if (ghost) faults.createThen500--;
    return { pod, ghost };
  }

  function livePod(id: string): PodRecord {
    const pod = pods.get(id);
    if (!pod || pod.deleted) throw new HttpProblem(404, 'pod not found');
    advance(pod, Date.now());
    return pod;
  }

  function podAction(pod: PodRecord, action: string): PodRecord | null {
    actionCalls[action] = (actionCalls[action] ?? 0) + 1;
    if (!(ACTIONS_BY_STATUS[pod.status] ?? []).includes(action)) {
      throw new HttpProblem(409, `cannot ${action} a pod in status ${pod.status}`);
    }
    const now = Date.now();
    switch (action) {
      case 'stop':
        if (faults.stopFailures > 0) {
          faults.stopFailures--;
          throw new HttpProblem(500, SOMETHING_WENT_WRONG);
        }
        pod.stuck = false;
        enter(pod, 'EXITED', now);
        return pod;
      case 'start':
        if (faults.hostNoGpuOnStart > 0) {
          faults.hostNoGpuOnStart--;
          throw new HttpProblem(400, HOST_NO_GPU_DETAIL);
        }
        pod.stuck = faults.stuckInStarting;
        enter(pod, 'STARTING', now);
        return pod;
      case 'restart':
        pod.stuck = faults.stuckInStarting;
        enter(pod, 'STARTING', now);
        return pod;
      default: // terminate
        enter(pod, 'TERMINATED', now);
        pod.deleted = true;
        return null;
    }
  }

  async function readBody(req: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function readJson(req: http.IncomingMessage): Promise<unknown> {
    const text = await readBody(req);
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpProblem(400, 'request body is not valid JSON');
    }
  }

  function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }),
      ...headers,
    });
    res.end(text);
  }

  function sendProblem(res: http.ServerResponse, p: HttpProblem, headers: Record<string, string> = {}): void {
    const body = { title: STATUS_TITLES[p.status] ?? 'Error', status: p.status, detail: p.detail, ...(p.errors ? { errors: p.errors } : {}) };
    const text = JSON.stringify(body);
    res.writeHead(p.status, {
      'content-type': 'application/problem+json',
      'content-length': Buffer.byteLength(text),
      ...headers,
      ...p.headers,
    });
    res.end(text);
  }

  const rateLimitHeaders = (remaining: number, resetS: number) => ({
    RateLimit: `"minute";r=${remaining};t=${resetS}, "hour";r=2800;t=1812, "day";r=49500;t=45012`,
    'RateLimit-Policy': '"minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400',
  });

  function methodNotAllowed(allow: string): never {
    throw new HttpProblem(405, 'The requested method is not allowed for this path.', undefined, { Allow: allow });
  }

  async function handleV2(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (faults.delayMs > 0) await sleep(faults.delayMs);
    const auth = req.headers.authorization;
    const token = /^Bearer (.+)$/i.exec(auth ?? '')?.[1];
    if (!token) throw new HttpProblem(401, 'missing bearer token');
    const readOnly = options.readOnlyApiKey !== undefined && token === options.readOnlyApiKey;
    if (token !== apiKey && !readOnly) throw new HttpProblem(401, 'invalid bearer token');
    if (faults.rateLimited > 0) {
      faults.rateLimited--;
      throw new HttpProblem(429, 'rate limit exceeded for the minute window', undefined, {
        'Retry-After': String(faults.retryAfterS),
        ...rateLimitHeaders(0, faults.retryAfterS),
      });
    }
    if (faults.serverErrors > 0) {
      faults.serverErrors--;
      throw new HttpProblem(500, SOMETHING_WENT_WRONG);
    }
    const headers = rateLimitHeaders(59, 60);
    const method = req.method ?? 'GET';
    if (readOnly && method !== 'GET') throw new HttpProblem(403, 'access denied', undefined, headers);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent); // ['v2', ...]
    const [, resource, id, sub, ...rest] = parts;
    try {
      if (resource === 'pods' && id === undefined) {
        if (method === 'GET') {
          advanceAll();
          const list = [...pods.values()].filter((p) => !p.deleted).map((p) => podJson(p));
          return sendJson(res, 200, { pods: list }, headers);
        }
        if (method === 'POST') {
          const body = await readJson(req);
          const { pod, ghost } = createPod(body);
          if (ghost) throw new HttpProblem(500, SOMETHING_WENT_WRONG);
          return sendJson(res, 201, podJson(pod), headers);
        }
        methodNotAllowed('GET, POST');
      }
      if (resource === 'pods' && id !== undefined && sub === undefined) {
        if (method === 'GET') return sendJson(res, 200, podJson(livePod(id)), headers);
        if (method === 'DELETE') {
          const pod = livePod(id);
          actionCalls.delete = (actionCalls.delete ?? 0) + 1;
          enter(pod, 'TERMINATED', Date.now());
          pod.deleted = true;
          return sendJson(res, 204, undefined, headers);
        }
        methodNotAllowed('DELETE, GET, PATCH');
      }
      if (resource === 'pods' && id !== undefined && sub === 'action' && rest.length === 0) {
        if (method !== 'POST') methodNotAllowed('POST');
        const body = await readJson(req);
        if (!validators.podAction(body)) {
          throw new HttpProblem(422, 'Request validation failed.', ajvMessages(validators.podAction.errors));
        }
        const pod = podAction(livePod(id), (body as { action: string }).action);
        return pod ? sendJson(res, 200, podJson(pod), headers) : sendJson(res, 204, undefined, headers);
      }
      if (resource === 'catalog' && id === 'gpus' && rest.length === 0) {
        if (method !== 'GET') methodNotAllowed('GET');
        const include = url.searchParams.get('include');
        const withAvailability = include !== null;
        if (include !== null && include !== 'AVAILABILITY') {
          throw new HttpProblem(422, 'Request validation failed.', [`$.include: value must be one of 'AVAILABILITY'`]);
        }
        const product = url.searchParams.get('product');
        if (withAvailability && !product) throw new HttpProblem(400, 'product is required with include=AVAILABILITY');
        for (const p of ['product', 'count', 'cloud', 'countryCodes', 'cudaVersions', 'minCudaVersion']) {
          if (!withAvailability && url.searchParams.has(p)) throw new HttpProblem(400, `${p} is valid only with include=AVAILABILITY`);
        }
        const gpuJson = (g: DoubleGpuType) => {
          const availability = faults.noCapacity ? 'NONE' : 'HIGH';
          return {
            id: g.id,
            name: g.name,
            pool: null,
            manufacturer: 'NVIDIA',
            memory: g.memory,
            secure: true,
            community: true,
            price: g.price,
            maxCount: { secure: 8, community: 4 },
            ...(withAvailability
              ? {
                  availability,
                  ...(faults.noCapacity ? {} : { dataCenters: [{ id: 'EU-RO-1', name: 'EU Romania 1', availability }] }),
                  cudaVersions: [{ version: '12.8', available: !faults.noCapacity }],
                }
              : {}),
          };
        };
        if (sub === undefined) return sendJson(res, 200, { gpus: gpuTypes.map(gpuJson) }, headers);
        const g = gpuTypes.find((t) => t.id === sub);
        if (!g) throw new HttpProblem(404, 'GPU type not found');
        return sendJson(res, 200, gpuJson(g), headers);
      }
      throw new HttpProblem(404, 'resource not found');
    } catch (err) {
      if (err instanceof HttpProblem) Object.assign(err.headers, headers);
      throw err;
    }
  }

  // ---- admin HTTP -----------------------------------------------------------------------------

  async function handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent); // ['__double', ...]
    const route = `${method} /${parts.slice(1).map((p, i) => (parts[1] === 'pods' && i === 1 ? ':id' : p)).join('/')}`;
    switch (route) {
      case 'GET /state':
        return sendJson(res, 200, admin.state());
      case 'POST /faults':
        return sendJson(res, 200, admin.setFaults((await readJson(req)) as Partial<RunPodDoubleFaults>));
      case 'POST /reset':
        admin.reset();
        return sendJson(res, 200, admin.state());
      case 'POST /pods': {
        const body = (await readJson(req)) as { name?: unknown; status?: string; gpuTypeId?: string; ports?: string[] };
        if (typeof body.name !== 'string') throw new HttpProblem(422, 'name is required');
        return sendJson(res, 201, admin.addPod({ ...body, name: body.name }));
      }
      case 'POST /pods/:id/status': {
        const body = (await readJson(req)) as { status?: unknown };
        admin.setPodStatus(parts[2]!, String(body.status));
        return sendJson(res, 200, admin.state().pods.find((p) => p.id === parts[2]));
      }
      default:
        throw new HttpProblem(404, `unknown admin route ${route}`);
    }
  }

  // ---- pod proxy ------------------------------------------------------------------------------

  /** Where `/proxy/{pod_id}/{port}/rest` goes, or the status the proxy answers instead. */
  function proxyTarget(url: URL): { upstream: URL } | { status: 404 | 502; text: string } {
    const m = /^\/proxy\/([^/]+)\/(\d+)(\/.*)?$/.exec(url.pathname);
    if (!m) return { status: 404, text: 'not found' };
    const pod = pods.get(decodeURIComponent(m[1]!));
    if (!pod || pod.deleted) return { status: 404, text: 'pod not found' };
    const now = Date.now();
    advance(pod, now);
    const port = Number(m[2]);
    const exposed = pod.ports.includes(`${port}/http`);
    if (!exposed || !isReady(pod, now) || !invokeaiUrl) {
      return { status: 502, text: `502 Bad Gateway: nothing answered on port ${port} of pod ${pod.id}` };
    }
    const base = new URL(invokeaiUrl);
    const upstream = new URL(base.pathname.replace(/\/+$/, '') + (m[3] ?? '/') + url.search, base.origin);
    return { upstream };
  }

  function handleProxy(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const target = proxyTarget(url);
    if ('status' in target) {
      req.resume();
      res.writeHead(target.status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(target.text);
      return;
    }
    const { upstream } = target;
    const { host: _host, connection: _connection, ...headers } = req.headers;
    const lib = upstream.protocol === 'https:' ? https : http;
    const out = lib.request(upstream, { method: req.method, headers: { ...headers, host: upstream.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('502 Bad Gateway: upstream unreachable');
      } else res.destroy();
    });
    req.pipe(out);
  }

  function handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const target = proxyTarget(new URL(req.url ?? '/', 'http://double'));
    if ('status' in target) {
      socket.end(`HTTP/1.1 ${target.status} ${target.status === 404 ? 'Not Found' : 'Bad Gateway'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const { upstream } = target;
    const conn = net.connect(Number(upstream.port || 80), upstream.hostname, () => {
      const lines = [`${req.method} ${upstream.pathname}${upstream.search} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!;
        lines.push(`${name}: ${name.toLowerCase() === 'host' ? upstream.host : req.rawHeaders[i + 1]}`);
      }
      conn.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) conn.write(head);
      conn.pipe(socket).pipe(conn);
    });
    sockets.add(conn);
    conn.on('close', () => sockets.delete(conn));
    conn.on('error', () => socket.destroy());
    socket.on('error', () => conn.destroy());
  }

  // ---- server ---------------------------------------------------------------------------------

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://double');
    const route = async () => {
      if (url.pathname.startsWith('/proxy/')) return handleProxy(req, res, url);
      if (url.pathname === '/__double' || url.pathname.startsWith('/__double/')) return handleAdmin(req, res, url);
      if (url.pathname === '/v1' || url.pathname.startsWith('/v1/')) {
        throw new HttpProblem(410, 'REST v1 was retired on 2026-11-15; use https://api.runpod.io/v2');
      }
      if (url.pathname === '/v2' || url.pathname.startsWith('/v2/')) return handleV2(req, res, url);
      throw new HttpProblem(404, 'resource not found');
    };
    route().catch((err: unknown) => {
      req.resume();
      if (res.headersSent) return void res.destroy();
      if (err instanceof HttpProblem) return sendProblem(res, err);
      sendProblem(res, new HttpProblem(500, SOMETHING_WENT_WRONG));
    });
  });
  server.on('upgrade', handleUpgrade);
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  return {
    url,
    apiUrl: `${url}/v2`,
    proxyUrlTemplate: `${url}/proxy/{pod_id}/{port}`,
    port: addr.port,
    apiKey,
    admin,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

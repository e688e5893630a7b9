/**
 * The RunPod pod session verbs both the API and the activities call: read the pod settings,
 * build a client with the account's key, and start the pod lifetime workflow — at most one at a
 * time.
 *
 * "At most one pod workflow": `application_settings.current_session_id` is the pointer to the pod
 * workflow (`runpod-pod/<current_session_id>`). Starting takes the settings row lock
 * (`SELECT … FOR UPDATE`), so two callers are serialised; the pointer is trusted only while
 * Temporal describes that workflow as RUNNING, so a workflow an operator terminated does not block
 * the next start. The workflow clears the pointer (only if it is still its own) when it ends.
 *
 * The API key is read here from the settings (`runpod_api_key`) or `RUNPOD_API_KEY`; it is never
 * returned, logged, or put into a workflow's input.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { and, eq, isNull } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { applicationSettings, podSessions } from '../db/schema.js';
import { badRequest, conflict } from '../errors.js';
import { backendUrl } from '../generation/backend.js';
import { getSettings, type Settings } from '../settings/service.js';
import type { podLifetimeWorkflow } from '../../workflows/pod-lifetime.js';
import { podStatusQuery, podWorkflowId, stopPodUpdate, type PodStatus } from '../../workflows/messages-pod.js';
import { PodStateKey } from '../../workflows/search-attributes.js';
import type { PodRoundSettings } from '../../workflows/pod-entity.js';
import { createRunPodClient, type RunPodClient } from './client.js';
import type { Cloud, CreatePodRequest } from './schemas.js';

/** Everything about the pod that comes from the settings. Times in s, sizes in GB, money in USD. */
export interface PodSettings extends PodRoundSettings {
  /** RunPod v2 GPU type id (`runpod_pod_type`, seed names mapped, e.g. `NVIDIA A5000` → `NVIDIA RTX A5000`) */
  gpuTypeId: string;
  /** give up waiting for InvokeAI after this long, s (`settings_json.readiness_timeout_seconds`, default 900) */
  readinessTimeoutS: number;
  /** the `POST /v2/pods` body without `name` */
  createBody: Omit<CreatePodRequest, 'name'>;
}

/** The seed's GPU names → RunPod v2 GPU type ids (reference §6). */
const SEED_GPU_IDS: Readonly<Record<string, string>> = {
  'NVIDIA A5000': 'NVIDIA RTX A5000',
  'NVIDIA RTX 3090': 'NVIDIA GeForce RTX 3090',
  'NVIDIA RTX 4090': 'NVIDIA GeForce RTX 4090',
};

/** Default InvokeAI image: the official one, pinned to a major version with CUDA (reference §9). */
export const DEFAULT_INVOKEAI_IMAGE = 'ghcr.io/invoke-ai/invokeai:6-cuda';

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/**
 * Reads the pod settings: columns `runpod_pod_type`, `idle_timeout_minutes`, and `settings_json` keys
 * `idle_timeout_seconds` (overrides the minutes; tests use seconds), `readiness_timeout_seconds`,
 * `pod_stop_action` (`stop` | `terminate`), `max_session_cost` (USD), `max_session_hours`, `pod_tick_seconds`, `pod_history_events` (continue-as-new threshold),
 * `runpod_image`, `runpod_container_disk_gb`, `runpod_volume_gb`, `runpod_network_volume_id`,
 * `runpod_cloud`, `runpod_data_center_ids`. Never throws; bad values fall back to defaults.
 */
export function podSettingsFrom(settings: Settings): PodSettings {
  const j = settings.settingsJson ?? {};
  const podType = settings.runpodPodType ?? 'NVIDIA RTX A5000';
  const gpuTypeId = SEED_GPU_IDS[podType] ?? podType;
  const networkVolumeId = str(j.runpod_network_volume_id);
  const dataCenterIds = Array.isArray(j.runpod_data_center_ids) ? j.runpod_data_center_ids.filter((d): d is string => typeof d === 'string') : [];
  const cloud: Cloud = j.runpod_cloud === 'COMMUNITY' ? 'COMMUNITY' : 'SECURE';
  return {
    idleTimeoutS: num(j.idle_timeout_seconds) ?? (settings.idleTimeoutMinutes ?? 30) * 60,
    maxSessionCostUsd: num(j.max_session_cost),
    maxSessionHours: num(j.max_session_hours),
    tickS: num(j.pod_tick_seconds) ?? 60,
    historyEvents: num(j.pod_history_events),
    gpuTypeId,
    readinessTimeoutS: num(j.readiness_timeout_seconds) ?? 15 * 60,
    stopAction: j.pod_stop_action === 'terminate' ? 'terminate' : 'stop',
    createBody: {
      image: str(j.runpod_image) ?? DEFAULT_INVOKEAI_IMAGE,
      gpu: { id: gpuTypeId, count: 1 },
      cloud,
      ports: ['9090/http'],
      disk: num(j.runpod_container_disk_gb) ?? 50,
      // InvokeAI's root (models, databases, outputs) on the volume, so a stopped pod keeps its models.
      env: { INVOKEAI_ROOT: '/workspace/invokeai', INVOKEAI_HOST: '0.0.0.0', INVOKEAI_PORT: '9090' },
      mounts: networkVolumeId
        ? { network: [{ volumeId: networkVolumeId, path: '/workspace' }] }
        : { persistent: { size: Math.max(10, num(j.runpod_volume_gb) ?? 50), path: '/workspace' } },
      ...(dataCenterIds.length ? { dataCenterIds } : {}),
    },
  };
}

/** The part of `PodSettings` the pod workflow re-reads every round. */
export function roundSettings(ps: PodSettings): PodRoundSettings {
  const { idleTimeoutS, maxSessionCostUsd, maxSessionHours, tickS, stopAction, historyEvents } = ps;
  return { idleTimeoutS, maxSessionCostUsd, maxSessionHours, tickS, stopAction, historyEvents };
}

/** The RunPod API key: the settings' `runpod_api_key`, else `RUNPOD_API_KEY`; `undefined` when neither is set. */
export function runpodApiKey(settings: Pick<Settings, 'runpodApiKey'>, config: Pick<Config, 'RUNPOD_API_KEY'>): string | undefined {
  return settings.runpodApiKey?.trim() || config.RUNPOD_API_KEY || undefined;
}

/** True when generation in remote mode goes through a RunPod pod workflow (remote mode and a key is set). */
export function usesRunPod(settings: Settings, config: Pick<Config, 'RUNPOD_API_KEY'>): boolean {
  return settings.backendMode === 'remote' && runpodApiKey(settings, config) !== undefined;
}

/**
 * A RunPod REST v2 client with the account's key (`RUNPOD_API_URL`, `RUNPOD_PROXY_URL_TEMPLATE`).
 * Close it after use.
 * @throws AppError `validation_error` when no API key is set
 */
export function runpodClientFor(settings: Settings, config: Pick<Config, 'RUNPOD_API_KEY' | 'RUNPOD_API_URL' | 'RUNPOD_PROXY_URL_TEMPLATE'>): RunPodClient {
  const apiKey = runpodApiKey(settings, config);
  if (!apiKey) throw badRequest('no RunPod API key: set runpod_api_key in the settings or RUNPOD_API_KEY');
  return createRunPodClient({ apiKey, baseUrl: config.RUNPOD_API_URL, proxyUrlTemplate: config.RUNPOD_PROXY_URL_TEMPLATE });
}

/** True when the workflow `workflowId` exists and is RUNNING (`DescribeWorkflowExecution`). Other errors propagate. */
export async function workflowRunning(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    const d = await temporal.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || (err as { name?: string }).name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}

/** Result of `startPodWorkflow`. */
export interface PodStart {
  workflowId: string;
  /** the pod session uuid (`pod_sessions.id`) */
  sessionId: string;
  /** false = a pod workflow was already running and is returned */
  started: boolean;
}

/**
 * Returns the running pod workflow, or starts `podLifetimeWorkflow` as `runpod-pod/<new uuid>` on
 * `taskQueue` (records a `pod_sessions` row in state `creating` and points `current_session_id` at
 * it). Serialised by the settings row lock; see the module comment.
 * @throws AppError `validation_error` when no RunPod API key is set; Temporal errors as they come
 */
export async function startPodWorkflow(deps: { db: Db; temporal: Client; config: Config; taskQueue: string }): Promise<PodStart> {
  const { db, temporal, config, taskQueue } = deps;
  await getSettings(db); // the row exists before we lock it
  return db.transaction(async (tx) => {
    const [settings] = await tx.select().from(applicationSettings).where(eq(applicationSettings.id, 1)).for('update');
    if (!runpodApiKey(settings!, config)) throw badRequest('no RunPod API key: set runpod_api_key in the settings or RUNPOD_API_KEY');
    const current = settings!.currentSessionId;
    if (current && (await workflowRunning(temporal, podWorkflowId(current)))) {
      return { workflowId: podWorkflowId(current), sessionId: current, started: false };
    }
    if (current) {
      // Its workflow is gone (terminated by hand?): the orphan sweep stops its pod, if any.
      await tx.update(podSessions).set({ state: 'abandoned' }).where(and(eq(podSessions.id, current), isNull(podSessions.stoppedAt)));
    }
    const sessionId = randomUUID();
    const workflowId = podWorkflowId(sessionId);
    await tx.insert(podSessions).values({ id: sessionId, workflowId, state: 'creating', gpuTypeId: podSettingsFrom(settings!).gpuTypeId });
    await tx.update(applicationSettings).set({ currentSessionId: sessionId, currentSessionCost: 0 }).where(eq(applicationSettings.id, 1));
    await temporal.workflow.start<typeof podLifetimeWorkflow>('podLifetimeWorkflow', {
      workflowId,
      taskQueue,
      args: [{ sessionId }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: [{ key: PodStateKey, value: 'creating' }],
      staticSummary: 'RunPod pod running InvokeAI',
    });
    return { workflowId, sessionId, started: true };
  });
}

/** The pod part of `GET /api/backend/status`. Times: ISO / s; money USD, `cost_per_hr` USD/h. */
export interface PodView {
  id: string | null;
  workflow_id: string;
  state: string;
  started_at: string | null;
  uptime_s: number;
  cost_usd_so_far: number;
  cost_per_hr: number | null;
  idle_remaining_s: number | null;
  leases: string[];
  cap_reached: boolean;
  stop_failures: number;
  last_error: string | null;
  /** set, loudly, while stopping keeps failing (the pod may still bill) */
  warning: string | null;
}

/** `GET /api/backend/status`. */
export interface BackendStatus {
  mode: 'local' | 'remote';
  url: string | null;
  connected: boolean;
  api_version: string | null;
  pod: PodView | null;
  /** USD */
  lifetime_cost: number;
  lifetime_usage_hours: number;
}

/**
 * The backend status: mode, URL, connection, the current pod (from its workflow's `podStatusQuery`,
 * recomputed to now; from `pod_sessions` when the workflow does not answer), lifetime totals.
 * Never contains the API key.
 */
export async function backendStatus(deps: { db: Db; temporal: Client; config: Config }, now = Date.now()): Promise<BackendStatus> {
  const settings = await getSettings(deps.db);
  let pod: PodView | null = null;
  if (settings.currentSessionId) pod = await podView(deps, settings.currentSessionId, now);
  return {
    mode: settings.backendMode === 'remote' ? 'remote' : 'local',
    url: backendUrl(settings, deps.config) ?? null,
    connected: settings.isConnected ?? false,
    api_version: settings.apiVersion,
    pod,
    lifetime_cost: settings.lifetimeCost ?? 0,
    lifetime_usage_hours: settings.lifetimeUsageHours ?? 0,
  };
}

/** How long the status waits for the pod workflow's query before answering from the database, ms. */
const QUERY_TIMEOUT_MS = 3000;

async function podView(deps: { db: Db; temporal: Client }, sessionId: string, now: number): Promise<PodView | null> {
  const workflowId = podWorkflowId(sessionId);
  const warn = (state: string, failures: number, err: string | null) =>
    state === 'stop_failing' ? `STOP KEEPS FAILING (${failures} rounds): the pod may still be billing; the workflow keeps retrying. ${err ?? ''}`.trim() : null;
  try {
    const q = await Promise.race([
      deps.temporal.workflow.getHandle(workflowId).query(podStatusQuery),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('query timed out')), QUERY_TIMEOUT_MS).unref()),
    ]);
    const started = q.started_at ? Date.parse(q.started_at) : null;
    const uptimeMs = started === null ? 0 : Math.max(0, now - started);
    const idleDeadline = q.idle_deadline ? Date.parse(q.idle_deadline) : null;
    return {
      id: q.pod_id,
      workflow_id: workflowId,
      state: q.state,
      started_at: q.started_at,
      uptime_s: Math.round(uptimeMs / 1000),
      cost_usd_so_far: q.cost_per_hr === null ? q.cost_usd_so_far : Math.round(((q.cost_per_hr * uptimeMs) / 3_600_000) * 10_000) / 10_000,
      cost_per_hr: q.cost_per_hr,
      idle_remaining_s: idleDeadline === null ? null : Math.max(0, Math.round((idleDeadline - now) / 1000)),
      leases: q.leases,
      cap_reached: q.cap_reached,
      stop_failures: q.stop_failures,
      last_error: q.last_error,
      warning: warn(q.state, q.stop_failures, q.last_error),
    };
  } catch {
    // No worker answers the query: what the database knows.
    const [row] = await deps.db.select().from(podSessions).where(eq(podSessions.id, sessionId));
    if (!row) return null;
    return {
      id: row.podId,
      workflow_id: workflowId,
      state: row.state,
      started_at: row.startedAt?.toISOString() ?? null,
      uptime_s: row.startedAt ? Math.round(((row.stoppedAt?.getTime() ?? now) - row.startedAt.getTime()) / 1000) : 0,
      cost_usd_so_far: row.costUsd ?? 0,
      cost_per_hr: row.costPerHr,
      idle_remaining_s: null,
      leases: [],
      cap_reached: false,
      stop_failures: 0,
      last_error: row.lastError,
      warning: warn(row.state, 0, row.lastError),
    };
  }
}

/**
 * Asks the current pod to stop (`stopPodUpdate`): no new lease; it stops once held leases are
 * released, or at once with `force`.
 * @throws AppError `conflict` when no pod workflow runs
 */
export async function requestPodStop(deps: { db: Db; temporal: Client }, force = false): Promise<{ workflowId: string; status: PodStatus }> {
  const settings = await getSettings(deps.db);
  const current = settings.currentSessionId;
  if (!current || !(await workflowRunning(deps.temporal, podWorkflowId(current)))) throw conflict('no RunPod pod is running');
  const workflowId = podWorkflowId(current);
  const status = await deps.temporal.workflow.getHandle(workflowId).executeUpdate(stopPodUpdate, { args: [{ force }] });
  return { workflowId, status };
}

/** Sets `backend_mode` (`POST /api/backend/mode`). A running pod is left to its idle timer. */
export async function setBackendMode(db: Db, mode: 'local' | 'remote'): Promise<void> {
  await getSettings(db);
  await db.update(applicationSettings).set({ backendMode: mode }).where(eq(applicationSettings.id, 1));
}

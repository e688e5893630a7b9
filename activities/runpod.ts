/**
 * Activities that talk to RunPod (REST v2) for the pod lifetime workflow and the orphan sweep,
 * plus `tryPodLease`, the remote-mode half of the generation step's `ensureBackend`.
 *
 * Each activity reads the API key itself (settings `runpod_api_key`, else `RUNPOD_API_KEY`); the
 * workflows never carry it. Every write is idempotent: `createOrAdoptPod` lists the account's pods
 * for our name before creating (and after a 5xx/timeout from create), `finishPodSession` adds to the
 * lifetime totals only while `pod_sessions.stopped_at` is still null (under a row lock).
 */
import { activityInfo, Context, heartbeat, log, sleep } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../src/db/client.js';
import { applicationSettings, podSessions } from '../src/db/schema.js';
import { getInvokeAIClient } from '../src/invokeai/client.js';
import type { RunPodClient } from '../src/runpod/client.js';
import { RunPodError, RunPodNetworkError, RunPodNotFoundError, RunPodServerError } from '../src/runpod/errors.js';
import { podSettingsFrom, roundSettings, runpodApiKey, runpodClientFor, startPodWorkflow, workflowRunning } from '../src/runpod/pod-service.js';
import { billedRate, costUsd } from '../src/runpod/pricing.js';
import { parseRunPodTime, type Pod } from '../src/runpod/schemas.js';
import { getSettings } from '../src/settings/service.js';
import type { PodRate, PodRoundSettings } from '../workflows/pod-entity.js';
import {
  acquireLeaseUpdate,
  podNameFor,
  podStatusQuery,
  POD_NAME_TAG,
  workflowIdFromPodName,
  type LeaseGrant,
} from '../workflows/messages-pod.js';
import { stepWorkflowId } from '../workflows/messages.js';
import type { ActivityDeps } from './index.js';

/** InvokeAI's HTTP port inside the pod (`9090/http`). */
const INVOKEAI_PORT = 9090;
/** How often `waitForInvokeAI` asks InvokeAI through the proxy, ms. */
const READY_POLL_MS = 500;
/** How often `waitForInvokeAI` also reads the pod (status, billed rate), ms. */
const POD_POLL_MS = 5000;

/** What `beginPodSession` answers: whether this workflow is the current pod workflow, and the settings. */
export interface PodSessionStart {
  /** false = another pod workflow is current (this one lost a race and must end without creating) */
  claimed: boolean;
  settings: PodRoundSettings;
  /** s */
  readinessTimeoutS: number;
}

/** A pod as the workflow keeps it. `startedAtMs` = the pod's creation (billing start), epoch ms. */
export interface PodHandle {
  podId: string;
  /** InvokeAI through the RunPod proxy, e.g. `https://<id>-9090.proxy.runpod.net` */
  url: string;
  startedAtMs: number;
  rate: PodRate;
  /** the pod existed already (a create that answered 5xx/timeout, or a retried activity) */
  adopted: boolean;
}

/** What the orphan sweep did. */
export interface SweepResult {
  /** pods stopped (tagged, no running workflow owns them) */
  stopped: string[];
  /** tagged pods whose workflow runs */
  owned: string[];
  /** pods without our tag, left alone */
  untagged: number;
  skipped?: string;
}

const rateOf = (r: { usdPerHour: number; source: string }): PodRate => ({ usdPerHour: r.usdPerHour, source: r.source });

/** Billed rate of `pod`: its own `cost` while billing, else the catalog price, else the seed table. */
async function rateFor(rp: RunPodClient, pod: Pod): Promise<PodRate> {
  const fromPod = billedRate({ pod });
  if (fromPod.source === 'pod' || !pod.gpu?.id) return rateOf(fromPod);
  const gpuType = await rp.getGpuType(pod.gpu.id).catch(() => null);
  return rateOf(billedRate({ pod, gpuType }));
}

/** The message of an error without anything but its text (RunPod errors are already redacted). */
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Builds the RunPod activities. */
export function createRunPodActivities({ database, config }: ActivityDeps) {
  const { db } = database;

  async function withRunPod<T>(fn: (rp: RunPodClient) => Promise<T>): Promise<T> {
    const rp = runpodClientFor(await getSettings(db), config);
    try {
      return await fn(rp);
    } finally {
      await rp.close();
    }
  }

  return {
    /**
     * Confirms this workflow is the current pod workflow (`current_session_id`) and reads the pod
     * settings. A workflow whose start lost a race (its pointer was never committed) ends here.
     * @throws ApplicationFailure `pod_session_pending` (retryable, first 4 attempts) while the
     *   `pod_sessions` row is not visible yet
     */
    async beginPodSession(input: { sessionId: string }): Promise<PodSessionStart> {
      const settings = await getSettings(db);
      const [row] = await db.select({ id: podSessions.id }).from(podSessions).where(eq(podSessions.id, input.sessionId));
      // The workflow starts inside `startPodWorkflow`'s transaction: give its commit a few seconds.
      if (!row && activityInfo().attempt < 5) throw ApplicationFailure.retryable('pod session not committed yet', 'pod_session_pending');
      const ps = podSettingsFrom(settings);
      return {
        claimed: Boolean(row) && settings.currentSessionId === input.sessionId,
        settings: roundSettings(ps),
        readinessTimeoutS: ps.readinessTimeoutS,
      };
    },

    /**
     * Creates the pod named `photo-gallery <workflowId>` exactly once (`POST /v2/pods`): first lists
     * the account's pods (`GET /v2/pods`) and adopts one carrying that name; after a 5xx or timeout
     * from create lists again and adopts the pod RunPod made anyway (reference §3). Records pod id,
     * GPU type, billed rate and start time in `pod_sessions`.
     * @throws RunPodError (no capacity, 402, bad key… are non-retryable; 5xx/429 retryable)
     */
    async createOrAdoptPod(input: { sessionId: string; workflowId: string }): Promise<PodHandle> {
      const settings = await getSettings(db);
      const ps = podSettingsFrom(settings);
      return withRunPod(async (rp) => {
        const name = podNameFor(input.workflowId);
        const findOurs = async () => (await rp.listPods({ name })).find((p) => p.status !== 'TERMINATED');
        let pod = await findOurs();
        let adopted = pod !== undefined;
        if (!pod) {
          try {
            pod = await rp.createPod({ name, ...ps.createBody });
          } catch (err) {
            if (!(err instanceof RunPodServerError || err instanceof RunPodNetworkError)) throw err;
            pod = await findOurs();
            if (!pod) throw err;
            adopted = true;
            log.warn('create answered an error but the pod exists: adopted', { podId: pod.id, error: err.message });
          }
        }
        if (pod.status === 'EXITED') pod = await rp.startPod(pod.id);
        const rate = await rateFor(rp, pod);
        const startedAtMs = parseRunPodTime(pod.createdAt) ?? Date.now();
        await db
          .update(podSessions)
          .set({
            podId: pod.id,
            gpuTypeId: pod.gpu?.id ?? ps.gpuTypeId,
            costPerHr: rate.usdPerHour,
            costSource: rate.source,
            startedAt: new Date(startedAtMs),
            state: 'starting',
          })
          .where(eq(podSessions.id, input.sessionId));
        return { podId: pod.id, url: rp.podProxyUrl(pod.id, INVOKEAI_PORT), startedAtMs, rate, adopted };
      });
    },

    /**
     * Waits until InvokeAI answers `GET {url}/api/v1/app/version` through the RunPod proxy (RUNNING is
     * not readiness, reference §8), heartbeating; reads the pod every 5 s for its status and billed
     * rate. Records `ready_at`.
     * @throws ApplicationFailure `readiness_timeout` (non-retryable) after `deadlineMs` (epoch ms),
     *   `pod_gone` when the pod disappeared
     */
    async waitForInvokeAI(input: { sessionId: string; podId: string; url: string; deadlineMs: number }): Promise<{ version: string; rate: PodRate | null }> {
      return withRunPod(async (rp) => {
        let status = 'unknown';
        let rate: PodRate | null = null;
        let lastPodRead = 0;
        let lastError = '';
        for (;;) {
          if (Date.now() - lastPodRead >= POD_POLL_MS) {
            lastPodRead = Date.now();
            try {
              const pod = await rp.getPod(input.podId);
              status = pod.status;
              if (pod.status === 'RUNNING' && pod.cost > 0) rate = rateOf(billedRate({ pod }));
            } catch (err) {
              if (err instanceof RunPodNotFoundError) throw ApplicationFailure.nonRetryable(`pod ${input.podId} is gone (404)`, 'pod_gone');
              if (!(err instanceof RunPodError && err.retryable)) throw err;
            }
          }
          try {
            const { version } = await getInvokeAIClient(input.url).getAppVersion();
            await db.update(podSessions).set({ readyAt: new Date(), state: 'ready' }).where(eq(podSessions.id, input.sessionId));
            return { version, rate };
          } catch (err) {
            lastError = messageOf(err);
          }
          if (Date.now() >= input.deadlineMs) {
            throw ApplicationFailure.nonRetryable(
              `InvokeAI did not answer through the RunPod proxy before the readiness limit (pod ${input.podId}, status ${status}): ${lastError}`,
              'readiness_timeout',
            );
          }
          heartbeat({ status });
          await sleep(READY_POLL_MS);
        }
      });
    },

    /**
     * Switches the backend to the pod: `backend_mode='remote'`, `remote_backend_url`, `is_connected`,
     * `api_version`, `current_session_id`, `current_session_start`, `current_session_cost = 0`.
     */
    async switchBackendToRemote(input: { sessionId: string; url: string; version: string; startedAtMs: number }): Promise<void> {
      await db
        .update(applicationSettings)
        .set({
          backendMode: 'remote',
          remoteBackendUrl: input.url,
          isConnected: true,
          lastConnectedAt: new Date(),
          apiVersion: input.version,
          currentSessionId: input.sessionId,
          currentSessionStart: new Date(input.startedAtMs),
          currentSessionCost: 0,
        })
        .where(eq(applicationSettings.id, 1));
    },

    /**
     * One round of the idle loop: records the cost so far (USD) in `pod_sessions` and, while this is
     * the current session, `current_session_cost`; returns the round settings read fresh.
     */
    async syncPodSession(input: { sessionId: string; costUsd: number; state: string; rate: PodRate | null }): Promise<PodRoundSettings> {
      await db
        .update(podSessions)
        .set({ costUsd: input.costUsd, state: input.state, ...(input.rate ? { costPerHr: input.rate.usdPerHour, costSource: input.rate.source } : {}) })
        .where(eq(podSessions.id, input.sessionId));
      await db
        .update(applicationSettings)
        .set({ currentSessionCost: input.costUsd })
        .where(and(eq(applicationSettings.id, 1), eq(applicationSettings.currentSessionId, input.sessionId)));
      return roundSettings(podSettingsFrom(await getSettings(db)));
    },

    /** Of `stepIds`, those whose step workflow (`generation-step/<id>`) still runs (DescribeWorkflowExecution). */
    async runningLeaseHolders(input: { stepIds: string[] }): Promise<string[]> {
      const temporal = Context.current().client;
      const out: string[] = [];
      for (const id of input.stepIds) if (await workflowRunning(temporal, stepWorkflowId(id))) out.push(id);
      return out;
    },

    /**
     * One stop round: reads the pod (`GET /v2/pods/{id}`); when not yet `EXITED`/`TERMINATED` sends
     * `stop` (or `terminate`, per the setting, or when `stop` is not among the pod's `actions`) to
     * `POST /v2/pods/{id}/action`, then reads it again. A 404 means terminated. Returns the billed rate
     * read before the stop (RunPod reports `cost` 0 afterwards) and the confirmation time (epoch ms).
     * @throws RunPodError when RunPod fails (the workflow retries forever)
     */
    async stopPodOnce(input: { podId: string; action: 'stop' | 'terminate' }): Promise<{ confirmed: boolean; status: string; rate: PodRate | null; atMs: number }> {
      return withRunPod(async (rp) => {
        const read = async () => rp.getPod(input.podId).catch((err: unknown) => (err instanceof RunPodNotFoundError ? null : Promise.reject(err)));
        const done = (p: Pod | null) => p === null || p.status === 'TERMINATED' || (p.status === 'EXITED' && input.action === 'stop');
        let pod = await read();
        const rate = pod && pod.cost > 0 ? rateOf(billedRate({ pod })) : null;
        if (!done(pod)) {
          if (input.action === 'terminate' || !pod!.actions.includes('stop')) await rp.terminatePod(input.podId);
          else await rp.stopPod(input.podId);
          pod = await read();
        }
        return { confirmed: done(pod), status: pod?.status ?? 'TERMINATED', rate, atMs: Date.now() };
      });
    },

    /** Records a pod problem (e.g. stop keeps failing) in `pod_sessions.state`/`last_error`, for the API's status. */
    async recordPodProblem(input: { sessionId: string; state: string; error: string }): Promise<void> {
      await db.update(podSessions).set({ state: input.state, lastError: input.error.slice(0, 2000) }).where(eq(podSessions.id, input.sessionId));
    },

    /**
     * Closes the session once the pod is confirmed stopped (or never existed): `pod_sessions`
     * (`stopped_at`, `cost_usd` = rate × (stop − start), state), adds hours and USD to
     * `lifetime_usage_hours`/`lifetime_cost`, and — while it is still the current session — clears
     * `current_session_id` and, if this session had switched the backend to remote, returns to local.
     * Idempotent: a second call finds `stopped_at` set and adds nothing.
     */
    async finishPodSession(input: { sessionId: string; stoppedAtMs: number; rate: PodRate | null; state: string; error: string | null }): Promise<{ costUsd: number; hours: number }> {
      return finishPodSession(db, input);
    },

    /**
     * The orphan sweep: lists the account's pods (`GET /v2/pods`) and stops (or terminates, per
     * `pod_stop_action`) every pod whose name carries our tag but whose pod workflow is not running
     * (DescribeWorkflowExecution); untagged pods and already stopped ones are left alone. Without an
     * API key it does nothing.
     */
    async sweepOrphanPods(): Promise<SweepResult> {
      const settings = await getSettings(db);
      if (!runpodApiKey(settings, config)) return { stopped: [], owned: [], untagged: 0, skipped: 'no RunPod API key' };
      const { stopAction } = podSettingsFrom(settings);
      const temporal = Context.current().client;
      return withRunPod(async (rp) => {
        const result: SweepResult = { stopped: [], owned: [], untagged: 0 };
        for (const pod of await rp.listPods()) {
          const workflowId = pod.name.includes(POD_NAME_TAG) ? workflowIdFromPodName(pod.name) : null;
          if (!workflowId) {
            result.untagged++;
            continue;
          }
          if (pod.status === 'EXITED' || pod.status === 'TERMINATED') continue;
          if (await workflowRunning(temporal, workflowId)) {
            result.owned.push(pod.id);
            continue;
          }
          if (stopAction === 'terminate' || !pod.actions.includes('stop')) await rp.terminatePod(pod.id);
          else await rp.stopPod(pod.id);
          log.warn('orphan pod stopped: no running workflow owns it', { podId: pod.id, workflowId });
          result.stopped.push(pod.id);
        }
        return result;
      });
    },
  };
}

/** See the `finishPodSession` activity. Runs in one transaction under the `pod_sessions` and settings row locks. */
async function finishPodSession(
  db: Db,
  input: { sessionId: string; stoppedAtMs: number; rate: PodRate | null; state: string; error: string | null },
): Promise<{ costUsd: number; hours: number }> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(podSessions).where(eq(podSessions.id, input.sessionId)).for('update');
    if (!row) return { costUsd: 0, hours: 0 };
    if (row.stoppedAt) {
      return { costUsd: row.costUsd ?? 0, hours: row.startedAt ? (row.stoppedAt.getTime() - row.startedAt.getTime()) / 3_600_000 : 0 };
    }
    const ms = row.startedAt ? Math.max(0, input.stoppedAtMs - row.startedAt.getTime()) : 0;
    const usdPerHour = input.rate?.usdPerHour ?? row.costPerHr ?? 0;
    const cost = costUsd(usdPerHour, ms);
    const hours = ms / 3_600_000;
    await tx
      .update(podSessions)
      .set({
        stoppedAt: new Date(input.stoppedAtMs),
        costUsd: cost,
        state: input.state,
        ...(input.rate ? { costPerHr: input.rate.usdPerHour, costSource: input.rate.source } : {}),
        ...(input.error ? { lastError: input.error.slice(0, 2000) } : {}),
      })
      .where(eq(podSessions.id, input.sessionId));
    const [settings] = await tx.select().from(applicationSettings).where(eq(applicationSettings.id, 1)).for('update');
    const current = settings?.currentSessionId === input.sessionId;
    await tx
      .update(applicationSettings)
      .set({
        lifetimeUsageHours: sql`coalesce(${applicationSettings.lifetimeUsageHours}, 0) + ${hours}`,
        lifetimeCost: sql`coalesce(${applicationSettings.lifetimeCost}, 0) + ${cost}`,
        ...(current ? { currentSessionId: null, currentSessionCost: cost, isConnected: false } : {}),
        ...(current && row.readyAt ? { backendMode: 'local', remoteBackendUrl: null } : {}),
      })
      .where(eq(applicationSettings.id, 1));
    return { costUsd: cost, hours };
  });
}

/** Progress of `tryPodLease` across the rounds of one `ensureBackend` attempt. */
export interface PodLeaseMemo {
  /** the pod workflow this attempt started or found */
  workflowId?: string;
}

/**
 * Remote mode with RunPod, one round of `ensureBackend`: starts the pod workflow if none runs
 * (on-demand start), and once its status is `ready`/`busy` takes the step's lease
 * (`acquireLeaseUpdate`). Returns the grant, or `{waiting}` with what it waits for.
 * @throws ApplicationFailure (non-retryable) `budget_exceeded` when the session's budget cap is
 *   reached; `runpod_error` when the pod workflow this step waited for failed (no capacity,
 *   readiness timeout, …); AppError `validation_error` when no API key is set
 */
export async function tryPodLease(
  deps: Pick<ActivityDeps, 'config'> & { db: Db },
  stepId: string,
  memo: PodLeaseMemo,
): Promise<LeaseGrant | { waiting: string }> {
  const ctx = Context.current();
  const temporal = ctx.client;
  if (memo.workflowId) {
    const d = await temporal.workflow.getHandle(memo.workflowId).describe();
    if (d.status.name !== 'RUNNING' && d.status.name !== 'COMPLETED') {
      const failure = await temporal.workflow.getHandle(memo.workflowId).result().then(() => null, (err: unknown) => err);
      const cause = (failure as { cause?: unknown } | null)?.cause ?? failure;
      throw ApplicationFailure.nonRetryable(`the RunPod pod could not be started: ${messageOf(cause)}`, 'runpod_error');
    }
  }
  const { workflowId } = await startPodWorkflow({ db: deps.db, temporal, config: deps.config, taskQueue: ctx.info.taskQueue });
  memo.workflowId = workflowId;
  const handle = temporal.workflow.getHandle(workflowId);
  const status = await handle.query(podStatusQuery);
  if (status.state !== 'ready' && status.state !== 'busy') return { waiting: `RunPod pod ${status.pod_id ?? '(being created)'} is ${status.state}` };
  try {
    return await handle.executeUpdate(acquireLeaseUpdate, { args: [{ stepId }] });
  } catch (err) {
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (!(cause instanceof ApplicationFailure)) throw err;
    if (cause.type === 'budget_exceeded') throw ApplicationFailure.nonRetryable(cause.message, 'budget_exceeded');
    return { waiting: cause.message };
  }
}

/**
 * The RunPod pod lifetime (`runpod-pod/<uuid>`): create the pod exactly once, wait until InvokeAI
 * answers through the proxy, switch the backend to remote, keep the pod while steps use it (idle
 * timer on durable timers, restarted by touches, suspended by leases, budget cap), stop it until
 * RunPod confirms, record the cost, switch back to local. At most one runs: see
 * `src/runpod/pod-service.ts` (`startPodWorkflow`).
 *
 * Also the orphan sweep workflow the `runpod-orphan-sweep` schedule starts.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { SweepResult } from '../activities/runpod.js';
import { errorMessage } from './generation-step.js';
import {
  acquireLeaseUpdate,
  podStatusQuery,
  releaseLeaseSignal,
  stopPodUpdate,
  touchSignal,
  type LEASE_REFUSALS,
  type PodLifecycleState,
  type PodStopReason,
} from './messages-pod.js';
import { PodEntity, type CarriedPodState } from './pod-entity.js';
import { PodStateKey } from './search-attributes.js';

// Database reads and writes: quick, retried quickly.
const db = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});
// Create/adopt: retrying is safe because the activity adopts the pod carrying our name first.
// Bounded: a RunPod that keeps answering 5xx ends the session (the orphan sweep covers a pod made meanwhile).
const create = proxyActivities<Activities>({
  startToCloseTimeout: '3 minutes',
  retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 10 },
});
// Readiness wait: the deadline lives in the activity (absolute), so a retry after a crash does not extend it.
const readiness = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});
// One stop round, never retried by Temporal: the workflow loops itself so it can report each failure.
const stopper = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 1 },
});

/** First pause between failed stop rounds, ms; grows ×1.5 up to `STOP_RETRY_MAX_MS`. */
const STOP_RETRY_BASE_MS = 500;
const STOP_RETRY_MAX_MS = 60_000;
/** Consecutive failed stop rounds after which the status turns loud (`stop_failing`). */
const LOUD_AFTER = 3;
/** A lease older than this whose step workflow no longer runs is dropped (a step terminated by hand). */
const LEASE_CHECK_AFTER_MS = 2 * 60_000;

/** Input of `podLifetimeWorkflow`; `carried` only across continue-as-new. No secrets, ever. */
export interface PodLifetimeInput {
  /** the uuid of `runpod-pod/<uuid>` and of the `pod_sessions` row */
  sessionId: string;
  carried?: CarriedPodState;
}

/** How the pod session ended. `costUsd` USD, `hours` h. */
export interface PodLifetimeResult {
  outcome: 'stopped' | 'superseded';
  reason: PodStopReason | null;
  podId: string | null;
  costUsd: number;
  hours: number;
}

const REFUSAL_MESSAGES: Record<(typeof LEASE_REFUSALS)[number], string> = {
  budget_exceeded: 'the RunPod session reached its budget cap (max_session_cost / max_session_hours): no new batch is enqueued; the pod stops after the running ones',
  pod_stopping: 'the RunPod pod is stopping',
  pod_not_ready: 'the RunPod pod is not ready yet',
};

/**
 * Runs one pod session to its end. Ends `stopped` (pod confirmed EXITED/TERMINATED, cost recorded)
 * or fails with a clear error (create refused, readiness timeout — the pod is terminated first).
 * Messages: `touchSignal`, `acquireLeaseUpdate`, `releaseLeaseSignal`, `stopPodUpdate`, `podStatusQuery`.
 */
export async function podLifetimeWorkflow(input: PodLifetimeInput): Promise<PodLifetimeResult> {
  const { sessionId } = input;
  const { workflowId } = workflowInfo();
  const pod = new PodEntity(Date.now(), input.carried);
  let published: PodLifecycleState | undefined;
  let lastReapMs = 0;

  const publish = (state?: PodLifecycleState) => {
    if (state) pod.state = state;
    if (pod.state === published) return;
    published = pod.state;
    upsertSearchAttributes([{ key: PodStateKey, value: pod.state }]);
    setCurrentDetails(`pod \`${pod.podId ?? '…'}\`: **${pod.state}**${pod.leases.size ? `, ${pod.leases.size} leases` : ''}`);
  };

  setHandler(podStatusQuery, () => pod.status(workflowId, Date.now()));
  setHandler(touchSignal, () => pod.touch(Date.now()));
  setHandler(releaseLeaseSignal, ({ stepId }) => {
    pod.release(stepId, Date.now());
    publish();
  });
  setHandler(
    acquireLeaseUpdate,
    ({ stepId }) => {
      pod.acquire(stepId, Date.now());
      publish();
      return { podWorkflowId: workflowId, podId: pod.podId!, url: pod.url! };
    },
    {
      validator: ({ stepId }) => {
        if (typeof stepId !== 'string' || stepId === '') throw ApplicationFailure.nonRetryable('stepId is required', 'validation_error');
        if (pod.leases.has(stepId) && pod.serving) return; // a retried acquire keeps its lease
        const refusal = pod.leaseRefusal(Date.now());
        if (refusal) throw ApplicationFailure.create({ message: REFUSAL_MESSAGES[refusal], type: refusal, nonRetryable: true });
      },
    },
  );
  setHandler(stopPodUpdate, ({ force }) => {
    pod.requestStop('requested', force === true);
    return pod.status(workflowId, Date.now());
  });

  const continueAsNewIfSuggested = async () => {
    const { continueAsNewSuggested, historyLength } = workflowInfo();
    const limit = pod.settings.historyEvents;
    if (!continueAsNewSuggested && !(limit !== null && historyLength >= limit)) return;
    await condition(allHandlersFinished);
    await continueAsNew<typeof podLifetimeWorkflow>({ sessionId, carried: pod.carry() });
  };

  /** Drops leases whose step workflow has ended without releasing (checked at most once per tick). */
  const reapLeases = async (now: number) => {
    if (now - lastReapMs < pod.settings.tickS * 1000) return;
    const old = pod.leasesOlderThan(now - LEASE_CHECK_AFTER_MS);
    if (old.length === 0) return;
    lastReapMs = now;
    const running = new Set(await db.runningLeaseHolders({ stepIds: old }));
    for (const stepId of old.filter((id) => !running.has(id))) {
      log.warn('lease dropped: its step workflow no longer runs', { stepId });
      pod.release(stepId, Date.now());
    }
  };

  /** The idle loop: one round per message or timer; returns why the pod must stop. */
  const serve = async (): Promise<PodStopReason> => {
    for (;;) {
      pod.settings = await db.syncPodSession({ sessionId, costUsd: pod.costUsd(Date.now()), state: pod.state, rate: pod.rate });
      const now = Date.now();
      const reason = pod.stopDue(now);
      publish();
      if (reason) return reason;
      await continueAsNewIfSuggested();
      await reapLeases(now);
      const idle = pod.idleDeadlineMs();
      const wakeAt = Math.min(idle ?? Infinity, now + pod.settings.tickS * 1000);
      const seen = pod.changes;
      await condition(() => pod.changes !== seen, Math.max(1, wakeAt - Date.now()));
    }
  };

  /** Stop rounds until RunPod reports EXITED/TERMINATED (404). Never gives up; loud after repeated failures. */
  const stopUntilConfirmed = async (action: 'stop' | 'terminate'): Promise<number> => {
    publish(pod.stopFailures >= LOUD_AFTER ? 'stop_failing' : 'stopping');
    for (;;) {
      try {
        const r = await stopper.stopPodOnce({ podId: pod.podId!, action });
        if (r.rate) pod.rate = r.rate;
        if (r.confirmed) return r.atMs;
        pod.lastError = `pod still ${r.status} after ${action}`;
      } catch (err) {
        if (isCancellation(err)) throw err;
        pod.lastError = errorMessage(err);
      }
      pod.stopFailures++;
      if (pod.stopFailures >= LOUD_AFTER) {
        publish('stop_failing');
        const loud = `STOP KEEPS FAILING (${pod.stopFailures} rounds): pod ${pod.podId} may still be billing; retrying. Last error: ${pod.lastError}`;
        setCurrentDetails(`⚠️ **${loud}**`);
        log.error(loud, { podId: pod.podId });
        await db.recordPodProblem({ sessionId, state: 'stop_failing', error: loud });
      }
      await sleep(Math.min(STOP_RETRY_MAX_MS, STOP_RETRY_BASE_MS * 1.5 ** (pod.stopFailures - 1)));
      await continueAsNewIfSuggested();
    }
  };

  let failure: { message: string; type: string } | null = null;
  const stopping = pod.state === 'stopping' || pod.state === 'stop_failing';
  if (!stopping) {
    try {
      if (!input.carried) {
        const begin = await db.beginPodSession({ sessionId });
        if (!begin.claimed) {
          log.warn('another pod workflow is current; ending without creating a pod', { sessionId });
          return { outcome: 'superseded', reason: null, podId: null, costUsd: 0, hours: 0 };
        }
        pod.settings = begin.settings;
        publish('creating');
        const created = await create.createOrAdoptPod({ sessionId, workflowId });
        Object.assign(pod, { podId: created.podId, url: created.url, startedAtMs: created.startedAtMs, rate: created.rate });
        publish('starting');
        const ready = await waitUntilReady(pod, sessionId, Date.now() + begin.readinessTimeoutS * 1000);
        if (ready) {
          if (ready.rate) pod.rate = ready.rate;
          await db.switchBackendToRemote({ sessionId, url: pod.url!, version: ready.version, startedAtMs: pod.startedAtMs! });
          pod.switchedToRemote = true;
          pod.touch(Date.now());
          publish('ready');
        }
      }
      if (!pod.stopRequested || pod.serving) pod.requestStop(await serve());
    } catch (err) {
      if (isCancellation(err) || err instanceof ContinueAsNew) throw err;
      const type = (err as { cause?: { type?: string } }).cause?.type ?? 'runpod_error';
      failure = { message: errorMessage(err), type: type === 'readiness_timeout' ? type : 'runpod_error' };
      pod.lastError = failure.message;
      pod.requestStop(type === 'readiness_timeout' ? 'readiness_timeout' : 'error', true);
    }
  } else if (pod.stopReason === 'readiness_timeout' || pod.stopReason === 'error') {
    failure = { message: pod.lastError ?? 'pod session failed', type: pod.stopReason === 'error' ? 'runpod_error' : pod.stopReason };
  }

  // A pod that never became usable is terminated: nothing on it is worth its disk bill.
  const action = pod.stopReason === 'readiness_timeout' || pod.stopReason === 'error' ? 'terminate' : pod.settings.stopAction;
  const stoppedAtMs = pod.podId ? await stopUntilConfirmed(action) : Date.now();
  const finished = await db.finishPodSession({
    sessionId,
    stoppedAtMs,
    rate: pod.rate,
    state: failure ? 'failed' : 'stopped',
    error: failure?.message ?? null,
  });
  publish(failure ? 'failed' : 'stopped');
  setCurrentDetails(`pod \`${pod.podId ?? '-'}\` ${failure ? 'failed' : 'stopped'} (${pod.stopReason}); cost ${finished.costUsd.toFixed(4)} USD`);
  await condition(allHandlersFinished);
  if (failure) throw ApplicationFailure.nonRetryable(failure.message, failure.type);
  return { outcome: 'stopped', reason: pod.stopReason, podId: pod.podId, costUsd: finished.costUsd, hours: finished.hours };
}

/**
 * Waits for InvokeAI through the proxy until `deadlineMs` (epoch ms); a stop asked for meanwhile
 * cancels the wait (→ `null`), so a pod still pulling its image is not billed any longer.
 */
async function waitUntilReady(pod: PodEntity, sessionId: string, deadlineMs: number) {
  const scope = new CancellationScope();
  const wait = scope.run(() => readiness.waitForInvokeAI({ sessionId, podId: pod.podId!, url: pod.url!, deadlineMs }));
  const stopAsked = condition(() => pod.stopRequested).then(
    () => null,
    () => null,
  );
  const outcome = await Promise.race([wait.then((r) => ({ r })), stopAsked]);
  if (outcome) return outcome.r;
  scope.cancel();
  await wait.catch(() => undefined);
  return null;
}

/** Stops tagged pods no running pod workflow owns (see the `sweepOrphanPods` activity). */
export async function runpodOrphanSweepWorkflow(): Promise<SweepResult> {
  const { sweepOrphanPods } = proxyActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '5s', maximumInterval: '1 minute', maximumAttempts: 3 },
  });
  const result = await sweepOrphanPods();
  if (result.stopped.length) setCurrentDetails(`stopped orphan pods: ${result.stopped.join(', ')}`);
  return result;
}

/**
 * The messages of the RunPod pod lifetime workflow (`runpod-pod/<uuid>`) and the shapes they
 * carry, shared by the workflow, the activities and the API's Temporal client — so this module
 * imports only `@temporalio/workflow`. Times: `_ms` = epoch ms or ms, `_s` = seconds; money in USD.
 *
 * Leases: a generation step holds one (keyed by its step id) from before it enqueues until its
 * retrievals end; the pod is never stopped under a held lease (unless a stop is forced).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/**
 * Lifecycle of a pod workflow: `creating` (create/adopt) → `starting` (waiting for InvokeAI through
 * the proxy) → `ready` (idle timer running) ⇄ `busy` (≥ 1 lease) → `stopping` → `stopped`;
 * `stop_failing` while stop keeps failing (retried forever); `failed` when no pod became usable.
 * Also the `PodState` search attribute.
 */
export type PodLifecycleState = 'creating' | 'starting' | 'ready' | 'busy' | 'stopping' | 'stop_failing' | 'stopped' | 'failed';

/** Why the pod stops. */
export type PodStopReason = 'idle' | 'requested' | 'budget' | 'readiness_timeout' | 'error';

/** `podStatusQuery` result. Times ISO 8601 / seconds; money USD; `cost_per_hr` USD/h. */
export interface PodStatus {
  workflow_id: string;
  state: PodLifecycleState;
  pod_id: string | null;
  /** InvokeAI base URL through the RunPod proxy */
  url: string | null;
  /** ISO time the pod was created (billing starts there) */
  started_at: string | null;
  uptime_s: number;
  cost_usd_so_far: number;
  cost_per_hr: number | null;
  /** `pod` (billed rate read from the pod) | `catalog` | `seed-table` */
  cost_source: string | null;
  /** seconds until the idle stop; `null` while leases are held or before the pod is ready */
  idle_remaining_s: number | null;
  /** ISO time of the idle stop when no lease is held */
  idle_deadline: string | null;
  /** step ids holding a lease */
  leases: string[];
  stop_requested: boolean;
  stop_reason: PodStopReason | null;
  /** the budget cap (`max_session_cost` / `max_session_hours`) is reached: no new lease */
  cap_reached: boolean;
  /** consecutive failed stop rounds (loud once ≥ 3) */
  stop_failures: number;
  last_error: string | null;
}

/** `acquireLeaseUpdate` argument: the step taking the lease. */
export interface LeaseRequest {
  stepId: string;
}

/** `acquireLeaseUpdate` result: where the step's InvokeAI calls go. */
export interface LeaseGrant {
  podWorkflowId: string;
  podId: string;
  url: string;
}

/**
 * Failure types of a refused `acquireLeaseUpdate` (`ApplicationFailure.type`): `pod_not_ready`
 * (try again shortly), `pod_stopping` (this pod ends; a later start makes a new one),
 * `budget_exceeded` (the session's budget cap is reached: fail the step).
 */
export const LEASE_REFUSALS = ['pod_not_ready', 'pod_stopping', 'budget_exceeded'] as const;

/** Restarts the idle timer (steps send it when they enqueue and when their retrievals end). */
export const touchSignal = defineSignal<[]>('touch');
/**
 * Takes a lease for a step (idempotent per step id). An Update, not a Signal, because the step must
 * know before enqueueing whether the pod will stay up (budget cap, stop in progress).
 */
export const acquireLeaseUpdate = defineUpdate<LeaseGrant, [LeaseRequest]>('acquireLease');
/** Gives a step's lease back (idempotent) and restarts the idle timer. */
export const releaseLeaseSignal = defineSignal<[LeaseRequest]>('releaseLease');
/**
 * Asks the pod to stop: no new lease from now on; the pod stops once held leases are released, or at
 * once with `force`. An Update so the API can answer with the state it left the pod in.
 */
export const stopPodUpdate = defineUpdate<PodStatus, [{ force?: boolean }]>('stopPod');
/** The pod's status (see `PodStatus`). */
export const podStatusQuery = defineQuery<PodStatus>('podStatus');

/** Workflow id of the pod workflow with uuid `sessionId` (also `pod_sessions.id`). */
export const podWorkflowId = (sessionId: string) => `runpod-pod/${sessionId}`;

/** Every pod we create is named `photo-gallery runpod-pod/<uuid>`: this prefix is our tag. */
export const POD_NAME_TAG = 'photo-gallery runpod-pod/';

/** The RunPod pod name for a pod workflow id, e.g. `photo-gallery runpod-pod/0b6f…`. */
export const podNameFor = (workflowId: string) => `photo-gallery ${workflowId}`;

/** The pod workflow id a pod name carries (`runpod-pod/<uuid>`), or `null` for an untagged pod. */
export function workflowIdFromPodName(name: string): string | null {
  const m = /photo-gallery (runpod-pod\/[0-9a-f-]{36})(?:\s|$)/i.exec(name);
  return m ? m[1]! : null;
}

/** Fixed id of the orphan-sweep schedule (and prefix of the workflows it starts). */
export const ORPHAN_SWEEP_SCHEDULE_ID = 'runpod-orphan-sweep';

/**
 * The pod session's state and rules as a plain class (leases, idle deadline, cost so far, budget
 * cap), so unit tests exercise them without Temporal. Deterministic: every method takes the time
 * (`now`, epoch ms) from the caller — in the workflow that is workflow time.
 */
import type { LEASE_REFUSALS, PodLifecycleState, PodStatus, PodStopReason } from './messages-pod.js';

/** The pod settings a round reads fresh from `application_settings`. Times in s, money in USD. */
export interface PodRoundSettings {
  /** idle timeout, s (`settings_json.idle_timeout_seconds`, else `idle_timeout_minutes` × 60) */
  idleTimeoutS: number;
  /** USD per session, `null` = no cap */
  maxSessionCostUsd: number | null;
  /** hours per session, `null` = no cap */
  maxSessionHours: number | null;
  /** how often the workflow records the cost and checks caps and leases, s */
  tickS: number;
  /** `stop` (keeps the volume; it still bills) or `terminate` */
  stopAction: 'stop' | 'terminate';
  /** continue-as-new at this many history events (`null`: when Temporal suggests it) */
  historyEvents: number | null;
}

/** A billed rate: USD/h and where it came from (`pod` | `catalog` | `seed-table`). */
export interface PodRate {
  usdPerHour: number;
  source: string;
}

/** What continue-as-new carries: compact, no secrets. */
export interface CarriedPodState {
  state: PodLifecycleState;
  podId: string | null;
  url: string | null;
  startedAtMs: number | null;
  rate: PodRate | null;
  /** step id → epoch ms the lease was taken */
  leases: Array<[string, number]>;
  lastActivityMs: number;
  stopRequested: boolean;
  force: boolean;
  stopReason: PodStopReason | null;
  capReached: boolean;
  stopFailures: number;
  lastError: string | null;
  settings: PodRoundSettings;
  /** the workflow switched the backend to remote (so its end switches back to local) */
  switchedToRemote: boolean;
}

/** Defaults until the first settings read: 30 min idle, no caps, 60 s tick, `stop`. */
export const DEFAULT_ROUND_SETTINGS: PodRoundSettings = { idleTimeoutS: 30 * 60, maxSessionCostUsd: null, maxSessionHours: null, tickS: 60, stopAction: 'stop', historyEvents: null };

/** State of one pod lifetime. */
export class PodEntity {
  state: PodLifecycleState = 'creating';
  podId: string | null = null;
  url: string | null = null;
  startedAtMs: number | null = null;
  rate: PodRate | null = null;
  readonly leases = new Map<string, number>();
  lastActivityMs: number;
  stopRequested = false;
  force = false;
  stopReason: PodStopReason | null = null;
  capReached = false;
  stopFailures = 0;
  lastError: string | null = null;
  settings: PodRoundSettings = DEFAULT_ROUND_SETTINGS;
  switchedToRemote = false;
  /** bumped by every message, so the main loop wakes on any of them */
  changes = 0;

  constructor(now: number, carried?: CarriedPodState) {
    this.lastActivityMs = now;
    if (carried) {
      const { leases, ...rest } = carried;
      Object.assign(this, rest);
      for (const [k, v] of leases) this.leases.set(k, v);
    }
  }

  /** Pod is up and InvokeAI answered: `ready` or `busy`. */
  get serving(): boolean {
    return this.state === 'ready' || this.state === 'busy';
  }

  /** Restarts the idle timer. */
  touch(now: number): void {
    this.lastActivityMs = now;
    this.changes++;
  }

  /** Why a lease would be refused now, or `null` when it would be granted. */
  leaseRefusal(now: number): (typeof LEASE_REFUSALS)[number] | null {
    if (this.capReached || this.overCap(now)) return 'budget_exceeded';
    if (this.stopRequested || !(this.serving || this.state === 'creating' || this.state === 'starting')) return 'pod_stopping';
    if (!this.serving) return 'pod_not_ready';
    return null;
  }

  /** Grants a lease (idempotent per step id); call only when `leaseRefusal` is `null`. */
  acquire(stepId: string, now: number): void {
    if (!this.leases.has(stepId)) this.leases.set(stepId, now);
    this.state = 'busy';
    this.touch(now);
  }

  /** Releases a lease (unknown ids are ignored) and restarts the idle timer. */
  release(stepId: string, now: number): void {
    this.leases.delete(stepId);
    if (this.state === 'busy' && this.leases.size === 0) this.state = 'ready';
    this.touch(now);
  }

  /** Asks for a stop; the first reason wins. `force` stops under held leases. */
  requestStop(reason: PodStopReason, force = false): void {
    this.stopRequested = true;
    this.force ||= force;
    this.stopReason ??= reason;
    this.changes++;
  }

  /** Running time so far, ms (from the pod's creation). */
  runningMs(now: number): number {
    return this.startedAtMs === null ? 0 : Math.max(0, now - this.startedAtMs);
  }

  /** Cost so far, USD: billed rate (USD/h) × running time. */
  costUsd(now: number): number {
    return this.rate ? (this.rate.usdPerHour * this.runningMs(now)) / 3_600_000 : 0;
  }

  /** The budget cap (`max_session_cost` USD or `max_session_hours`) is reached at `now`. */
  overCap(now: number): boolean {
    const { maxSessionCostUsd: cost, maxSessionHours: hours } = this.settings;
    return (cost !== null && this.costUsd(now) >= cost) || (hours !== null && this.runningMs(now) >= hours * 3_600_000);
  }

  /** When the idle stop is due (epoch ms), or `null` while leases are held or the pod is not serving. */
  idleDeadlineMs(): number | null {
    if (!this.serving || this.leases.size > 0) return null;
    return this.lastActivityMs + this.settings.idleTimeoutS * 1000;
  }

  /** Checks the cap (latching `capReached`) and says whether and why to stop now. */
  stopDue(now: number): PodStopReason | null {
    if (!this.capReached && this.overCap(now)) {
      this.capReached = true;
      this.requestStop('budget');
    }
    if (this.stopRequested && (this.leases.size === 0 || this.force)) return this.stopReason;
    const idle = this.idleDeadlineMs();
    if (idle !== null && now >= idle) return 'idle';
    return null;
  }

  /** Leases taken before `cutoffMs` (candidates for the check that their step still runs). */
  leasesOlderThan(cutoffMs: number): string[] {
    return [...this.leases].filter(([, since]) => since < cutoffMs).map(([id]) => id);
  }

  /** The query view at `now`. */
  status(workflowId: string, now: number): PodStatus {
    const idle = this.idleDeadlineMs();
    return {
      workflow_id: workflowId,
      state: this.state,
      pod_id: this.podId,
      url: this.url,
      started_at: this.startedAtMs === null ? null : new Date(this.startedAtMs).toISOString(),
      uptime_s: Math.round(this.runningMs(now) / 1000),
      cost_usd_so_far: Math.round(this.costUsd(now) * 10_000) / 10_000,
      cost_per_hr: this.rate?.usdPerHour ?? null,
      cost_source: this.rate?.source ?? null,
      idle_remaining_s: idle === null ? null : Math.max(0, Math.round((idle - now) / 1000)),
      idle_deadline: idle === null ? null : new Date(idle).toISOString(),
      leases: [...this.leases.keys()],
      stop_requested: this.stopRequested,
      stop_reason: this.stopReason,
      cap_reached: this.capReached,
      stop_failures: this.stopFailures,
      last_error: this.lastError,
    };
  }

  /** Compact state for continue-as-new. */
  carry(): CarriedPodState {
    return {
      state: this.state,
      podId: this.podId,
      url: this.url,
      startedAtMs: this.startedAtMs,
      rate: this.rate,
      leases: [...this.leases],
      lastActivityMs: this.lastActivityMs,
      stopRequested: this.stopRequested,
      force: this.force,
      stopReason: this.stopReason,
      capReached: this.capReached,
      stopFailures: this.stopFailures,
      lastError: this.lastError,
      settings: this.settings,
      switchedToRemote: this.switchedToRemote,
    };
  }
}

/**
 * Cost helpers (pure). The billed rate comes from RunPod whenever it says anything: the pod's own
 * `cost` (USD/h, authoritative while the pod runs, reference §2.5/§6), else the catalog list price
 * × GPU count, and only when RunPod says nothing the seed's hard-coded table (seed 001 §2.4
 * `_get_hourly_rate`).
 */
import type { Cloud, GpuType, Pod } from './schemas.js';

/** Where a rate came from. */
export type RateSource = 'pod' | 'catalog' | 'seed-table';

/** A rate in USD per hour and its source. */
export interface BilledRate {
  usdPerHour: number;
  source: RateSource;
}

/**
 * The seed's rate table (USD/h per pod), keyed by the seed's names and, with the same prices, by
 * the matching RunPod v2 GPU type ids (reference §6). Last resort only.
 */
export const SEED_RATE_TABLE: Readonly<Record<string, number>> = Object.freeze({
  'NVIDIA A5000': 0.89,
  'NVIDIA RTX A5000': 0.89,
  'NVIDIA RTX A6000': 1.49,
  'NVIDIA L4': 0.69,
  'NVIDIA RTX 3090': 0.79,
  'NVIDIA GeForce RTX 3090': 0.79,
  'NVIDIA RTX 4090': 1.29,
  'NVIDIA GeForce RTX 4090': 1.29,
});

/** The seed's rate for unknown GPU types, USD/h. */
export const SEED_DEFAULT_RATE = 1.0;

/** Statuses in which RunPod bills compute (`cost` is 0 in `EXITED`/`TERMINATED`). */
const BILLING_STATUSES: ReadonlySet<string> = new Set(['PROVISIONING', 'STARTING', 'RUNNING', 'ERROR']);

/** What `billedRate` looks at; all optional, missing parts are skipped. */
export interface BilledRateInput {
  /** the pod as last read from RunPod */
  pod?: Pick<Pod, 'status' | 'cost' | 'gpu' | 'cloud'> | null;
  /** the catalog entry for the pod's GPU type (`GET /v2/catalog/gpus/{id}`) */
  gpuType?: Pick<GpuType, 'id' | 'price'> | null;
  /** GPU type id when there is no pod yet (settings' `runpod_pod_type`) */
  gpuTypeId?: string;
  /** GPUs per pod when there is no pod yet, default 1 */
  gpuCount?: number;
  /** cloud tier for the catalog price, default the pod's, else `SECURE` */
  cloud?: Cloud;
}

/**
 * Picks the rate to bill a session with: the pod's `cost` (> 0, pod in a billing status) →
 * catalog `price[cloud]` × GPU count (> 0) → `SEED_RATE_TABLE[gpu id]` × count
 * (`SEED_DEFAULT_RATE` for unknown ids). Never throws.
 * @example billedRate({ pod }) // { usdPerHour: 0.44, source: 'pod' }
 */
export function billedRate({ pod, gpuType, gpuTypeId, gpuCount, cloud }: BilledRateInput): BilledRate {
  if (pod && BILLING_STATUSES.has(pod.status) && Number.isFinite(pod.cost) && pod.cost > 0) {
    return { usdPerHour: pod.cost, source: 'pod' };
  }
  const count = pod?.gpu?.count ?? gpuCount ?? 1;
  const tier = cloud ?? (pod?.cloud === 'COMMUNITY' ? 'COMMUNITY' : 'SECURE');
  const listPrice = tier === 'COMMUNITY' ? gpuType?.price.community : gpuType?.price.secure;
  if (typeof listPrice === 'number' && Number.isFinite(listPrice) && listPrice > 0) {
    return { usdPerHour: listPrice * count, source: 'catalog' };
  }
  const id = pod?.gpu?.id ?? gpuType?.id ?? gpuTypeId;
  const seed = (id !== undefined ? SEED_RATE_TABLE[id] : undefined) ?? SEED_DEFAULT_RATE;
  return { usdPerHour: seed * count, source: 'seed-table' };
}

/**
 * Cost in USD of running `ms` milliseconds at `usdPerHour`. Unrounded.
 * @throws RangeError when either argument is negative or not finite.
 * @example costUsd(0.44, 30 * 60_000) // 0.22
 */
export function costUsd(usdPerHour: number, ms: number): number {
  if (!Number.isFinite(usdPerHour) || usdPerHour < 0) throw new RangeError(`usdPerHour must be ≥ 0, got ${usdPerHour}`);
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`ms must be ≥ 0, got ${ms}`);
  return (usdPerHour * ms) / 3_600_000;
}

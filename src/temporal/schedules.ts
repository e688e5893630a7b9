/**
 * The Temporal Schedules the worker keeps in place (not in-process timers): visible, pausable and
 * triggerable in the Web UI, surviving restarts. `ensureSchedules` creates each one, or updates an
 * existing one to its definition, every time the worker starts. Add a schedule by adding an entry
 * to `SCHEDULES` (the maintenance jobs' entries live in `src/maintenance/schedules.ts`).
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import type { Config } from '../config.js';
import { ORPHAN_SWEEP_SCHEDULE_ID } from '../../workflows/messages-pod.js';
import { MAINTENANCE_SCHEDULES } from '../maintenance/schedules.js';

/** One schedule: a workflow (exported from `workflows/index.ts`, no arguments) started every `every`. */
export interface ScheduleDefinition {
  /** schedule id in the Web UI; also the prefix of the started workflows' ids */
  id: string;
  workflowType: string;
  /** interval in `ms` format (`5 minutes`) */
  every: string;
  /** a run missed while the server was down is still taken if at most this late */
  catchupWindow: string;
  /** a run that takes longer is stopped, so overlap SKIP never blocks the schedule for good */
  runTimeout: string;
  /** one line, the schedule's memo and each run's summary */
  summary: string;
}

/** Every schedule `ensureSchedules` keeps. */
export const SCHEDULES: readonly ScheduleDefinition[] = [
  {
    id: ORPHAN_SWEEP_SCHEDULE_ID,
    workflowType: 'runpodOrphanSweepWorkflow',
    every: '5 minutes',
    catchupWindow: '5 minutes',
    runTimeout: '10 minutes',
    summary: 'Stop RunPod pods named "photo-gallery runpod-pod/…" that no running pod workflow owns (pods left billing)',
  },
  ...MAINTENANCE_SCHEDULES,
];

/**
 * Creates or updates every schedule of `schedules` (default `SCHEDULES`) to start its workflow on
 * `TEMPORAL_TASK_QUEUE`; a schedule paused in the Web UI stays paused. Idempotent.
 * @param options.idPrefix prefixed to schedule and workflow ids (tests sharing a server); default none
 * @returns the ids, and which were created rather than updated
 * @throws the Temporal client's error when the server cannot be reached
 * @example await ensureSchedules(client, config)
 */
export async function ensureSchedules(
  client: Client,
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE'>,
  schedules: readonly ScheduleDefinition[] = SCHEDULES,
  options: { idPrefix?: string } = {},
): Promise<{ ids: string[]; created: string[] }> {
  const prefix = options.idPrefix ?? '';
  const ids: string[] = [];
  const created: string[] = [];
  for (const s of schedules) {
    const scheduleId = `${prefix}${s.id}`;
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow',
      workflowType: s.workflowType,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      args: [],
      workflowId: scheduleId, // Temporal appends the scheduled time
      workflowExecutionTimeout: s.runTimeout,
      staticSummary: s.summary,
    };
    const def = {
      spec: { intervals: [{ every: s.every }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: s.catchupWindow, pauseOnFailure: false },
    };
    try {
      await client.schedule.create({ scheduleId, ...def, memo: { summary: s.summary } });
      created.push(scheduleId);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, ...def, state: prev.state }));
    }
    ids.push(scheduleId);
  }
  return { ids, created };
}

/**
 * The maintenance schedules alone (`MAINTENANCE_SCHEDULES`), created or updated like `ensureSchedules`.
 * @param options.idPrefix prefixed to schedule and workflow ids (tests sharing a server)
 */
export async function ensureMaintenanceSchedules(
  client: Client,
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE'>,
  options: { idPrefix?: string } = {},
): Promise<{ ids: string[]; created: string[] }> {
  return ensureSchedules(client, config, MAINTENANCE_SCHEDULES, options);
}

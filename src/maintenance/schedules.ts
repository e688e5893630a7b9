/**
 * The maintenance schedules (Temporal Schedules, not an in-process timer): visible, pausable and
 * triggerable in the Web UI under readable ids, and surviving restarts. `ensureMaintenanceSchedules`
 * creates them, or brings existing ones up to date, each time the worker starts.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import type { Config } from '../config.js';

/** One maintenance schedule. */
export interface MaintenanceSchedule {
  /** the schedule id shown in the Web UI, e.g. `maintenance-purge-trash` */
  id: string;
  /** workflow exported from `workflows/index.ts` */
  workflowType: string;
  /** how often, in `ms` format (`60s`, `1 day`) */
  every: string;
  /** a missed run (server or worker down) is still taken if at most this late */
  catchupWindow: string;
  /** a run that takes longer is stopped, so SKIP does not block the schedule for good */
  runTimeout: string;
  /** one line, shown as the schedule's memo and each run's summary */
  summary: string;
}

/** Every maintenance schedule (issue 7). */
export const MAINTENANCE_SCHEDULES: readonly MaintenanceSchedule[] = [
  {
    id: 'maintenance-retry-failed-retrievals',
    workflowType: 'retryFailedRetrievalsWorkflow',
    every: '60s',
    catchupWindow: '1 minute',
    runTimeout: '10 minutes',
    summary: 'Retry failed retrievals: generated photos with retrieval_status=failed and attempts left are fetched again from InvokeAI',
  },
  {
    id: 'maintenance-refresh-models',
    workflowType: 'refreshModelsWorkflow',
    every: '15 minutes',
    catchupWindow: '1 minute',
    runTimeout: '10 minutes',
    summary: 'Refresh the model cache from InvokeAI (skipped while InvokeAI does not answer)',
  },
  {
    id: 'maintenance-expire-share-links',
    workflowType: 'expireShareLinksWorkflow',
    every: '1 hour',
    catchupWindow: '1 hour',
    runTimeout: '30 minutes',
    summary: 'Expire share links: delete links expired for longer than settings_json.share_link_retention_days (default 30)',
  },
  {
    id: 'maintenance-purge-trash',
    workflowType: 'purgeTrashWorkflow',
    every: '1 day',
    catchupWindow: '1 day',
    runTimeout: '6 hours',
    summary: 'Purge the trash: photos deleted longer than settings_json.trash_retention_days (default 30) lose files and rows; photos a generation step references keep their row (purged_at)',
  },
  {
    id: 'maintenance-reconcile-storage',
    workflowType: 'reconcileStorageWorkflow',
    every: '1 day',
    catchupWindow: '1 day',
    runTimeout: '6 hours',
    summary: 'Reconcile storage: files without a row go to DATA_DIR/quarantine, completed rows without a file become failed (the retry schedule fetches them); counts in the result',
  },
];

/** The schedule's definition as `create`/`update` take it (without the id and memo). */
function definition(s: MaintenanceSchedule, taskQueue: string, idPrefix: string) {
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: s.workflowType,
    taskQueue,
    args: [],
    // Temporal appends the scheduled time: `maintenance-purge-trash-2025-01-31T00:00:00Z`.
    workflowId: `${idPrefix}${s.id}`,
    workflowExecutionTimeout: s.runTimeout,
    staticSummary: s.summary,
  };
  return {
    spec: { intervals: [{ every: s.every }] },
    action,
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: s.catchupWindow, pauseOnFailure: false },
  };
}

/**
 * Creates every maintenance schedule, or updates an existing one to this definition (spec, action,
 * policies; a schedule paused in the Web UI stays paused). Idempotent: run at each worker start.
 * @param options.idPrefix prefixed to schedule and workflow ids (tests; several galleries sharing a
 *   namespace); default none
 * @returns the schedule ids, and which were created rather than updated
 * @throws the Temporal client's error when the server cannot be reached
 * @example await ensureMaintenanceSchedules(client, config)
 */
export async function ensureMaintenanceSchedules(
  client: Client,
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE'>,
  options: { idPrefix?: string } = {},
): Promise<{ ids: string[]; created: string[] }> {
  const prefix = options.idPrefix ?? '';
  const ids: string[] = [];
  const created: string[] = [];
  for (const s of MAINTENANCE_SCHEDULES) {
    const scheduleId = `${prefix}${s.id}`;
    const def = definition(s, config.TEMPORAL_TASK_QUEUE, prefix);
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

/**
 * The maintenance schedules (Temporal Schedules, not an in-process timer): visible, pausable and
 * triggerable in the Web UI under readable ids, and surviving restarts. The worker creates them, or
 * brings existing ones up to date, each time it starts (`ensureSchedules` in src/temporal/schedules.ts).
 */
import type { ScheduleDefinition } from '../temporal/schedules.js';

/** One maintenance schedule (the shape every schedule of `src/temporal/schedules.ts` has). */
export type MaintenanceSchedule = ScheduleDefinition;

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

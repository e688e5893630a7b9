/**
 * The maintenance jobs, one small workflow each, started by the Temporal Schedules of
 * `src/maintenance/schedules.ts` (visible, pausable and triggerable in the Web UI). The work is in
 * activities; each workflow returns the job's counts, which the UI shows as the run's result.
 */
import { log, ParentClosePolicy, proxyActivities, setCurrentDetails, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { photoRetrievalWorkflowId } from './messages.js';
import { photoRetrievalWorkflow } from './photo-retrieval.js';

// Database queries: quick; a run that keeps failing gives up and the next scheduled run tries again.
const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
});
// Walks of the trash and of the file store: long, heartbeating at each chunk of work.
const sweep = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '10s', maximumInterval: '5 minutes', maximumAttempts: 5 },
});

/** Result of `retryFailedRetrievalsWorkflow`. */
export interface RetryFailedRetrievalsResult {
  /** photos with `retrieval_status = 'failed'` and attempts left */
  found: number;
  /** retrieval workflows started */
  started: number;
  /** photos whose retrieval workflow was already running (a person's retry): joined, not raced */
  alreadyRunning: number;
}

/**
 * Retries failed retrievals that have attempts left, each in its own `retrieve-photo/<photo id>`
 * workflow (abandoned by this one, so the schedule's run ends at once). That id is shared with the
 * API's retry, so the two never run for the same photo at once; `prepareRetry` in that workflow
 * skips a photo no longer `failed`.
 */
export async function retryFailedRetrievalsWorkflow(): Promise<RetryFailedRetrievalsResult> {
  const { photoIds } = await catalog.findRetryableRetrievals();
  const result: RetryFailedRetrievalsResult = { found: photoIds.length, started: 0, alreadyRunning: 0 };
  for (const photoId of photoIds) {
    try {
      await startChild(photoRetrievalWorkflow, {
        workflowId: photoRetrievalWorkflowId(photoId),
        args: [{ photoId, resetAttempts: false }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `scheduled retry of the retrieval of photo ${photoId}`,
      });
      result.started++;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      result.alreadyRunning++;
    }
  }
  if (photoIds.length > 0) log.info('failed retrievals retried', { ...result });
  setCurrentDetails(`${result.started} retrievals started, ${result.alreadyRunning} already running`);
  return result;
}

/** Refreshes the model cache from InvokeAI; skipped (not failed) while it does not answer. */
export async function refreshModelsWorkflow() {
  return catalog.refreshModelCache();
}

/** Deletes share links expired for longer than the retention (default 30 days). */
export async function expireShareLinksWorkflow() {
  return catalog.expireShareLinks();
}

/** Purges photos in the trash for longer than the retention (default 30 days). */
export async function purgeTrashWorkflow() {
  return sweep.purgeTrash();
}

/** Quarantines files without a row and fails `completed` rows without a file; returns the counts. */
export async function reconcileStorageWorkflow() {
  return sweep.reconcileStorage();
}

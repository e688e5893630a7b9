/**
 * Retrieves one generated photo again (`retrieve-photo/<photo id>`), for a retry asked from the
 * API or by the failed-retrieval schedule. One workflow id per photo, so two retries never race.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { retrievePhotos } from './generation-step.js';

const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});

/** Input: the photo, and whether its attempt counter restarts (a person asked) or not (schedule). */
export interface PhotoRetrievalInput {
  photoId: string;
  resetAttempts: boolean;
}

/** Retries the retrieval; returns the photo's final `retrieval_status`. */
export async function photoRetrievalWorkflow(input: PhotoRetrievalInput): Promise<{ retrievalStatus: string }> {
  const policy = await catalog.prepareRetry(input);
  if (policy.skip) return { retrievalStatus: policy.retrievalStatus };
  await retrievePhotos([input.photoId], policy);
  return catalog.refreshStepOfPhoto({ photoId: input.photoId });
}

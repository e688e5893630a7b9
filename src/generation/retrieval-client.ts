/**
 * Starting a photo's retrieval again through Temporal (`retrieve-photo/<photo id>`), for the API's
 * retry routes and the failed-retrieval schedule. One workflow id per photo: a second request
 * while one runs joins it instead of racing it.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import { photoRetrievalWorkflowId } from '../../workflows/messages.js';
import type { photoRetrievalWorkflow } from '../../workflows/photo-retrieval.js';

/**
 * Starts (or joins) the retrieval workflow of `photoId`.
 * @param options.resetAttempts true when a person asked (a fresh round of attempts); false for the schedule
 * @returns the workflow id
 * @throws the Temporal client's error when the server cannot be reached
 */
export async function requestPhotoRetrieval(
  deps: { temporal: Client; config: Pick<Config, 'TEMPORAL_TASK_QUEUE'> },
  photoId: string,
  options: { resetAttempts?: boolean } = {},
): Promise<{ workflowId: string }> {
  const workflowId = photoRetrievalWorkflowId(photoId);
  await deps.temporal.workflow.start<typeof photoRetrievalWorkflow>('photoRetrievalWorkflow', {
    workflowId,
    taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
    args: [{ photoId, resetAttempts: options.resetAttempts ?? true }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `retry retrieval of photo ${photoId}`,
  });
  return { workflowId };
}

/**
 * One generation step (`generation-step/<step id>`): make sure the backend answers, enqueue the
 * InvokeAI batch exactly once, wait for its queue items, correlate the images by the step's CID
 * marker, record a photo per image, retrieve each one under the retry policy from the settings,
 * then close the step. Its own workflow so each step's history reads on its own in the Web UI.
 */
import {
  ApplicationFailure,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { sessionWorkflowId, stepFinishedSignal, stepStateQuery, type StepState } from './messages.js';
import { releaseLeaseSignal, touchSignal } from './messages-pod.js';
import { StepStatusKey } from './search-attributes.js';

// Database writes: quick, retried quickly.
const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});
// Waits until InvokeAI answers: heartbeats while it polls; a step waits, it does not fail, while
// the backend is down (retried without limit).
const backend = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});
// Calls to InvokeAI that can be retried safely (enqueue checks for its batch first). They
// heartbeat while they run, so a killed worker's attempt is retried after 10 s, not minutes.
const invokeai = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 30 },
});
// Polls the batch until every queue item has finished: heartbeats carry progress, and a dead
// worker is noticed within the heartbeat timeout.
const batchWait = proxyActivities<Activities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** Input of `generationStepWorkflow`; everything else is read from the step's row. */
export interface GenerationStepInput {
  stepId: string;
  sessionId: string;
}

/** Runs a step to `completed` (≥ 1 image retrieved) or `failed`. Never throws for InvokeAI errors. */
export async function generationStepWorkflow(input: GenerationStepInput): Promise<{ status: StepState['status'] }> {
  const { stepId, sessionId } = input;
  const state: StepState = { stepId, stage: 'backend', itemIds: [], photoIds: [], status: 'pending' };
  setHandler(stepStateQuery, () => state);

  // Remote mode: the RunPod pod workflow holding this step's lease (released in `finally`).
  let podWorkflowId: string | undefined;
  try {
    const plan = await catalog.loadStepPlan({ stepId });
    setCurrentDetails(`**${plan.summary}**\n\nwaiting for InvokeAI to answer`);
    ({ podWorkflowId } = await backend.ensureBackend({ stepId }));
    if (plan.imageToImage) await invokeai.prepareInitImage({ stepId });

    state.stage = 'enqueue';
    const enqueued = await invokeai.enqueueStep({ stepId });
    await signalPod(podWorkflowId, touchSignal);
    state.itemIds = enqueued.itemIds;
    state.status = 'processing';
    setCurrentDetails(`**${plan.summary}**\n\nbatch \`${enqueued.batchId}\`: ${enqueued.itemIds.length} queue items`);

    state.stage = 'waiting';
    const batch = await batchWait.awaitBatch({ stepId });

    state.stage = 'correlating';
    const photos = await invokeai.recordImages({ stepId, images: batch.images });
    state.photoIds = photos.map((p) => p.photoId);

    state.stage = 'retrieving';
    setCurrentDetails(`**${plan.summary}**\n\nretrieving ${photos.length} images`);
    await retrievePhotos(state.photoIds, plan.retrieval);
    await signalPod(podWorkflowId, touchSignal);

    const closed = await catalog.finalizeStep({ stepId, failures: batch.failed });
    state.status = closed.status;
  } catch (err) {
    if (isCancellation(err)) throw err;
    // A refused batch (422), failed items, an unknown model: the step fails with InvokeAI's error.
    const message = errorMessage(err);
    log.warn('step failed', { stepId, error: message });
    await catalog.failStep({ stepId, error: message });
    state.status = 'failed';
  } finally {
    await signalPod(podWorkflowId, releaseLeaseSignal, { stepId });
  }
  state.stage = 'done';
  upsertSearchAttributes([{ key: StepStatusKey, value: state.status }]);
  setCurrentDetails(`step ${state.status}`);
  await notifySession(sessionId, stepId, state.status);
  return { status: state.status };
}

/** Retry settings read from `application_settings` when the step starts. */
export interface RetrievalPolicy {
  maxAttempts: number;
  /** seconds before the second attempt; doubles after each failure */
  retryDelayS: number;
  /** retrievals running at once */
  parallel: number;
}

/**
 * Retrieves each photo in its own activity under a RetryPolicy built from the settings, at most
 * `parallel` at once. When the attempts run out the photo is marked `failed` and the others go on.
 */
export async function retrievePhotos(photoIds: string[], policy: RetrievalPolicy): Promise<void> {
  const { retrieveImage } = proxyActivities<Activities>({
    startToCloseTimeout: '3 minutes',
    heartbeatTimeout: '10s',
    retry: {
      initialInterval: `${Math.max(policy.retryDelayS, 0.1)}s`,
      backoffCoefficient: 2,
      maximumInterval: `${Math.max(policy.retryDelayS, 0.1) * 16}s`,
      maximumAttempts: Math.max(1, policy.maxAttempts),
    },
  });
  let next = 0;
  const lane = async () => {
    while (next < photoIds.length) {
      const photoId = photoIds[next++]!;
      try {
        await retrieveImage({ photoId });
      } catch (err) {
        if (isCancellation(err)) throw err;
        await catalog.markRetrievalFailed({ photoId, error: errorMessage(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, policy.parallel), photoIds.length) }, lane));
}

/** Signals the pod workflow, if the step uses one; a pod workflow that has ended is no error. */
async function signalPod<Args extends unknown[]>(podWorkflowId: string | undefined, signal: SignalDefinition<Args>, ...args: Args): Promise<void> {
  if (!podWorkflowId) return;
  try {
    await getExternalWorkflowHandle(podWorkflowId).signal(signal, ...args);
  } catch (err) {
    log.info('pod workflow not signalled', { podWorkflowId, signal: signal.name, error: errorMessage(err) });
  }
}

async function notifySession(sessionId: string, stepId: string, status: StepState['status']): Promise<void> {
  try {
    await getExternalWorkflowHandle(sessionWorkflowId(sessionId)).signal(stepFinishedSignal, { stepId, status });
  } catch (err) {
    // The session may have ended meanwhile; the step's row is the record either way.
    log.info('session not notified', { sessionId, error: errorMessage(err) });
  }
}

/** The innermost message of an activity failure chain. */
export function errorMessage(err: unknown): string {
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause) e = (e as { cause: unknown }).cause;
  if (e instanceof ApplicationFailure || e instanceof Error) return e.message;
  return String(e);
}

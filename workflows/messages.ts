/**
 * The messages of the generation workflows: Updates (the caller waits for a result), Signals
 * (fire-and-forget), Queries (read-only), with their argument and result shapes. Shared by the
 * workflows and the API's Temporal client, so this module imports only `@temporalio/workflow`.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** Generation parameters of a step as stored in `generation_steps.parameters`. Sizes in px. */
export interface StepParameters {
  width: number;
  height: number;
  steps: number;
  cfg_scale: number;
  scheduler: string;
  /** first seed; image i uses seed + i (chosen by the API when the user gave none) */
  seed: number;
  /** 0..1; present = image-to-image refinement */
  strength?: number;
  /** main model base (`sdxl`, `sd-1`) */
  base?: string;
  /** `remote`: this step starts (or uses) a RunPod pod even while the backend is in local mode */
  backend?: 'local' | 'remote';
}

/** Input of `addStepUpdate`: the step the API validated. `stepId` is chosen by the API (idempotency). */
export interface AddStepInput {
  stepId: string;
  prompt: string;
  negativePrompt: string | null;
  modelKey: string;
  parameters: StepParameters;
  batchSize: number;
  parentId: string | null;
}

/** Result of `addStepUpdate`. */
export interface AddStepResult {
  stepId: string;
  batchId: string;
  status: string;
  position: number;
}

/** One step as the session workflow sees it. */
export interface StepSummary {
  stepId: string;
  position: number;
  /** InvokeAI batch_id chosen for the step */
  batchId: string;
  status: 'pending' | 'processing' | 'completed' | 'failed';
}

/** The session workflow's state (`sessionStateQuery`). */
export interface SessionState {
  sessionId: string;
  status: 'active' | 'completed' | 'abandoned';
  entryType: 'scratch' | 'refinement';
  recorded: boolean;
  steps: StepSummary[];
  /** workflow time of the last message, ms since epoch */
  lastActivityMs: number;
}

/** Waits until the session row exists; used with update-with-start so no row lacks its workflow. */
export const sessionReadyUpdate = defineUpdate<SessionState, []>('sessionReady');
/** Add a generation step: records it (pending) and starts its child workflow. */
export const addStepUpdate = defineUpdate<AddStepResult, [AddStepInput]>('addStep');
/** Select one alternative of a step (moves an earlier selection). */
export const selectAlternativeUpdate = defineUpdate<{ stepId: string; imageId: string }, [{ stepId: string; imageId: string }]>(
  'selectAlternative',
);
/** Retry the failed retrievals of a step; returns the photos whose retrieval was started again. */
export const retryRetrievalsUpdate = defineUpdate<{ photoIds: string[] }, [{ stepId: string }]>('retryRetrievals');
/** Complete or abandon the session; the workflow ends once running steps have finished. */
export const endSessionUpdate = defineUpdate<{ status: 'completed' | 'abandoned' }, [{ status: 'completed' | 'abandoned' }]>(
  'endSession',
);
/** The session's state. */
export const sessionStateQuery = defineQuery<SessionState>('sessionState');
/** Sent by a step workflow to its session when it ends (by workflow id, so it survives continue-as-new). */
export const stepFinishedSignal = defineSignal<[{ stepId: string; status: StepSummary['status'] }]>('stepFinished');

/** The step workflow's stage (`stepStateQuery`). */
export interface StepState {
  stepId: string;
  stage: 'backend' | 'enqueue' | 'waiting' | 'correlating' | 'retrieving' | 'done';
  itemIds: number[];
  photoIds: string[];
  status: StepSummary['status'];
}
export const stepStateQuery = defineQuery<StepState>('stepState');

/** Workflow ids: one workflow per session, per step, per photo retrieval. */
export const sessionWorkflowId = (sessionId: string) => `generation-session/${sessionId}`;
export const stepWorkflowId = (stepId: string) => `generation-step/${stepId}`;
export const photoRetrievalWorkflowId = (photoId: string) => `retrieve-photo/${photoId}`;

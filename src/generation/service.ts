/**
 * Generation sessions and steps as the API sees them. Every change goes through the session's
 * workflow (Updates), so the workflow is the one writer of a session's steps; reads come from
 * PostgreSQL. Idempotency-Key headers map to the session or step id a first call chose.
 */
import { createHash, randomInt, randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { generationSessions, generationSteps, idempotencyKeys, photos, stepAlternatives } from '../db/schema.js';
import { AppError, badRequest, conflict, notFound } from '../errors.js';
import { checkGenerationInput, GraphParameterError, MAX_SEED, SCHEDULERS } from '../invokeai/graphs/index.js';
import { getModel } from '../models/queries.js';
import { getSettings } from '../settings/service.js';
import { runpodApiKey } from '../runpod/pod-service.js';
import { temporalUiUrl } from '../temporal/connection.js';
import { failedPhotoIdsOfStep } from './queries.js';
import { requestPhotoRetrieval } from './retrieval-client.js';
import {
  addStepUpdate,
  endSessionUpdate,
  retryRetrievalsUpdate,
  selectAlternativeUpdate,
  sessionReadyUpdate,
  sessionWorkflowId,
  stepWorkflowId,
  type AddStepInput,
} from '../../workflows/messages.js';
import type { generationSessionWorkflow } from '../../workflows/generation-session.js';
import { EntryTypeKey, SessionIdKey, SessionStatusKey } from '../../workflows/search-attributes.js';

/** What the generation service needs. */
export interface GenerationDeps {
  database: { db: Db };
  temporal: Client;
  config: Config;
}

type SessionRow = typeof generationSessions.$inferSelect;
type StepRow = typeof generationSteps.$inferSelect;

/** A session in API form (snake_case), with its Temporal UI link. */
export function sessionView(config: Config, s: SessionRow) {
  const workflowId = s.workflowId ?? sessionWorkflowId(s.id);
  return {
    id: s.id,
    status: s.status,
    entry_type: s.entryType,
    source_image_id: s.sourceImageId,
    started_at: s.startedAt?.toISOString() ?? null,
    completed_at: s.completedAt?.toISOString() ?? null,
    workflow_id: workflowId,
    temporal_ui_url: temporalUiUrl(config, workflowId),
  };
}

/** An image of a step in API form. */
export interface StepImageView {
  id: string;
  url: string;
  thumbnail_url: string;
  selected: boolean;
  retrieval_status: string | null;
  retrieval_attempts: number | null;
  retrieval_error: string | null;
  invoke_id: string | null;
  seed: number | null;
}

/** A step in API form, with its images and Temporal UI link. */
export function stepView(config: Config, s: StepRow, images: StepImageView[]) {
  const workflowId = stepWorkflowId(s.id);
  return {
    id: s.id,
    session_id: s.sessionId,
    parent_id: s.parentId,
    position: s.position,
    status: s.status,
    prompt: s.prompt,
    negative_prompt: s.negativePrompt,
    model_key: s.modelKey,
    model_name: s.modelName,
    parameters: s.parameters,
    batch_id: s.batchId,
    batch_size: s.batchSize,
    item_ids: s.itemIds ?? [],
    selected_image_id: s.selectedImageId,
    progress: s.progress ?? null,
    error_message: s.errorMessage,
    created_at: s.createdAt?.toISOString() ?? null,
    completed_at: s.completedAt?.toISOString() ?? null,
    images,
    retrieval_stats: {
      total: s.batchSize ?? images.length,
      retrieved: images.filter((i) => i.retrieval_status === 'completed').length,
      failed: images.filter((i) => i.retrieval_status === 'failed').length + Math.max(0, Number((s.progress as { items_failed?: number } | null)?.items_failed ?? 0)),
    },
    workflow_id: workflowId,
    temporal_ui_url: temporalUiUrl(config, workflowId),
  };
}

async function imagesOf(db: Db, stepIds: string[]): Promise<Map<string, StepImageView[]>> {
  const byStep = new Map<string, StepImageView[]>();
  if (stepIds.length === 0) return byStep;
  const rows = await db
    .select({ stepId: stepAlternatives.stepId, selected: stepAlternatives.selected, photo: photos })
    .from(stepAlternatives)
    .innerJoin(photos, eq(photos.id, stepAlternatives.imageId))
    .where(inArray(stepAlternatives.stepId, stepIds))
    .orderBy(asc(photos.filename));
  for (const r of rows) {
    const list = byStep.get(r.stepId) ?? [];
    list.push({
      id: r.photo.id,
      url: `/api/photos/${r.photo.id}/file`,
      thumbnail_url: `/api/photos/${r.photo.id}/thumbnail`,
      selected: r.selected,
      retrieval_status: r.photo.retrievalStatus,
      retrieval_attempts: r.photo.retrievalAttempts,
      retrieval_error: r.photo.retrievalError,
      invoke_id: r.photo.invokeId,
      seed: typeof r.photo.generationParams?.seed === 'number' ? (r.photo.generationParams.seed as number) : null,
    });
    byStep.set(r.stepId, list);
  }
  return byStep;
}

/**
 * The id a request with `Idempotency-Key` should use: the one a first request with that key
 * chose, else `fresh`. The same key with another body is refused.
 * @throws AppError conflict when the key was used with a different request body
 */
async function idempotentId(db: Db, scope: string, key: string | undefined, body: unknown, fresh: string): Promise<string> {
  if (!key) return fresh;
  const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  await db.insert(idempotencyKeys).values({ scope, key, resourceId: fresh, requestHash: hash }).onConflictDoNothing();
  const [row] = await db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)));
  if (row!.requestHash && row!.requestHash !== hash) throw conflict(`Idempotency-Key ${key} was used with a different request`);
  return row!.resourceId;
}

/**
 * Maps a failed Update to our error codes: the workflow (or an activity under it) throws
 * ApplicationFailures whose `type` is one of them; the innermost such failure says what went wrong.
 */
function updateError(err: unknown): never {
  if (err instanceof WorkflowNotFoundError) throw conflict('the session has ended');
  if (err instanceof WorkflowUpdateFailedError) {
    let found: ApplicationFailure | undefined;
    for (let e: unknown = err.cause; e instanceof Error; e = e.cause) {
      if (e instanceof ApplicationFailure && (e.type === 'conflict' || e.type === 'validation_error' || e.type === 'not_found')) found = e;
    }
    if (found) throw new AppError(found.type as 'conflict' | 'validation_error' | 'not_found', found.message);
  }
  throw err;
}

/**
 * Creates a session and its workflow together (update-with-start): the workflow's first act
 * records the row, and the call returns once it exists.
 * @throws AppError not_found when `source_image_id` names no photo; validation_error for a
 *   refinement session without one
 */
export async function createSession(
  deps: GenerationDeps,
  input: { entry_type: 'scratch' | 'refinement'; source_image_id?: string | null },
  idempotencyKey?: string,
) {
  const { db } = deps.database;
  const sourceImageId = input.source_image_id ?? null;
  if (input.entry_type === 'refinement' && !sourceImageId) throw badRequest('source_image_id: required for a refinement session');
  if (sourceImageId) {
    const [photo] = await db.select({ id: photos.id, deleted: photos.deletedAt }).from(photos).where(eq(photos.id, sourceImageId));
    if (!photo || photo.deleted) throw notFound('photo', sourceImageId);
  }
  const sessionId = await idempotentId(db, 'POST /api/generation/sessions', idempotencyKey, input, randomUUID());
  const workflowId = sessionWorkflowId(sessionId);
  const settings = await getSettings(db);
  const tuning = settings.settingsJson as { session_inactivity_hours?: number; session_history_events?: number };
  const inactivityHours = Number(tuning.session_inactivity_hours ?? 7 * 24);
  try {
    await deps.temporal.workflow.executeUpdateWithStart(sessionReadyUpdate, {
      args: [],
      startWorkflowOperation: new WithStartWorkflowOperation<typeof generationSessionWorkflow>('generationSessionWorkflow', {
        workflowId,
        taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
        args: [
          {
            sessionId,
            entryType: input.entry_type,
            sourceImageId,
            inactivityTimeoutMs: inactivityHours * 3600_000,
            ...(tuning.session_history_events ? { continueAsNewAfterEvents: Number(tuning.session_history_events) } : {}),
          },
        ],
        workflowIdConflictPolicy: 'USE_EXISTING',
        // An ended session keeps its id: a retried create must not start it again.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SessionIdKey, value: sessionId },
          { key: SessionStatusKey, value: 'active' },
          { key: EntryTypeKey, value: input.entry_type },
        ],
        staticSummary: `${input.entry_type} session ${sessionId}`,
        staticDetails: sourceImageId ? `Refines photo \`${sourceImageId}\`.` : 'Generation from scratch.',
      }),
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return getSession(deps, sessionId);
}

/**
 * A session with its steps in position order, each with its images.
 * @throws AppError not_found
 */
export async function getSession(deps: GenerationDeps, sessionId: string) {
  const { db } = deps.database;
  const [session] = await db.select().from(generationSessions).where(eq(generationSessions.id, sessionId));
  if (!session) throw notFound('session', sessionId);
  const steps = await db.select().from(generationSteps).where(eq(generationSteps.sessionId, sessionId)).orderBy(asc(generationSteps.position));
  const images = await imagesOf(db, steps.map((s) => s.id));
  return { ...sessionView(deps.config, session), steps: steps.map((s) => stepView(deps.config, s, images.get(s.id) ?? [])) };
}

/** Sessions, newest first, optionally by status. */
export async function listSessions(deps: GenerationDeps, query: { status?: string; limit: number; offset: number }) {
  const { db } = deps.database;
  const where = query.status ? eq(generationSessions.status, query.status) : undefined;
  const rows = await db.select().from(generationSessions).where(where).orderBy(desc(generationSessions.startedAt)).limit(query.limit).offset(query.offset);
  const [{ total }] = (await db.select({ total: sql<number>`count(*)::int` }).from(generationSessions).where(where)) as [{ total: number }];
  return { items: rows.map((s) => sessionView(deps.config, s)), total, limit: query.limit, offset: query.offset };
}

/** Body of `POST /api/generation/sessions/:id/steps`. */
export interface AddStepBody {
  prompt: string;
  negative_prompt?: string | null;
  model_key: string;
  parameters?: Partial<{ width: number; height: number; steps: number; cfg_scale: number; scheduler: string; seed: number; strength: number }>;
  batch_size?: number;
  parent_id?: string | null;
  /** `remote` runs this step on a RunPod pod (started on demand) even in local mode */
  backend?: 'local' | 'remote';
}

/**
 * Adds a step through the session workflow. Parameters default to the model's defaults, then the
 * settings; a missing seed is drawn here (so the stored parameters carry the actual seed).
 * @throws AppError not_found (session, parent), conflict (session not active, parent without
 *   selection), validation_error (unknown model, bad parameter: the message names the field)
 */
export async function addStep(deps: GenerationDeps, sessionId: string, body: AddStepBody, idempotencyKey?: string) {
  const { db } = deps.database;
  const [session] = await db.select().from(generationSessions).where(eq(generationSessions.id, sessionId));
  if (!session) throw notFound('session', sessionId);
  if (session.status !== 'active') throw conflict(`session is ${session.status}`);
  const model = await getModel(db, body.model_key);
  if (!model || model.missingAt) throw badRequest(`model_key: unknown model ${body.model_key}`);
  if (model.type !== 'main') throw badRequest(`model_key: ${body.model_key} is a ${model.type} model, not a main model`);
  const settings = await getSettings(db);
  const p = body.parameters ?? {};

  let strength = p.strength;
  if (body.parent_id) {
    const [parent] = await db.select().from(generationSteps).where(eq(generationSteps.id, body.parent_id));
    if (!parent || parent.sessionId !== sessionId) throw notFound('parent step', body.parent_id);
    if (strength !== undefined && !parent.selectedImageId) throw conflict(`parent step ${body.parent_id} has no selected image`);
  } else if (session.entryType === 'refinement') {
    strength ??= 0.6;
  } else if (strength !== undefined) {
    throw badRequest('parameters.strength: image-to-image needs parent_id (or a refinement session)');
  }
  if (strength !== undefined && !(strength > 0 && strength <= 1)) throw badRequest('parameters.strength: must be in (0, 1]');

  const parameters = {
    width: p.width ?? model.defaultWidth ?? (model.base === 'sd-1' ? 512 : 1024),
    height: p.height ?? model.defaultHeight ?? (model.base === 'sd-1' ? 512 : 1024),
    steps: p.steps ?? model.defaultSteps ?? settings.defaultSteps,
    cfg_scale: p.cfg_scale ?? model.defaultCfgScale ?? settings.defaultCfgScale,
    scheduler: p.scheduler ?? model.defaultScheduler ?? settings.defaultScheduler,
    seed: p.seed ?? randomInt(0, MAX_SEED),
    ...(strength !== undefined ? { strength } : {}),
    ...(body.backend === 'remote' ? { backend: 'remote' as const } : {}),
  };
  if (body.backend === 'remote' && !runpodApiKey(settings, deps.config)) {
    throw badRequest('backend: remote needs a RunPod API key (settings runpod_api_key or RUNPOD_API_KEY)');
  }
  const batchSize = body.batch_size ?? settings.defaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > deps.config.MAX_BATCH_SIZE) {
    throw badRequest(`batch_size: must be an integer in 1..${deps.config.MAX_BATCH_SIZE}`);
  }
  if (!(SCHEDULERS as readonly string[]).includes(parameters.scheduler)) throw badRequest(`parameters.scheduler: unknown scheduler ${parameters.scheduler}`);
  try {
    // The same checks the graph builder makes when the step runs, before anything is queued.
    checkGenerationInput(
      {
        stepId: 'check', batchId: 'check', correlationId: 'check', model, prompt: body.prompt, negativePrompt: body.negative_prompt ?? null,
        width: parameters.width, height: parameters.height, steps: parameters.steps, cfgScale: parameters.cfg_scale,
        scheduler: parameters.scheduler, seeds: Array.from({ length: batchSize }, (_, i) => (parameters.seed + i) % (MAX_SEED + 1)),
      },
      deps.config.MAX_BATCH_SIZE,
    );
  } catch (err) {
    if (err instanceof GraphParameterError) throw badRequest(`parameters.${fieldName(err.field)}: ${err.message.replace(/^[^:]*: /, '')}`);
    throw err;
  }

  const stepId = await idempotentId(db, `POST /api/generation/sessions/${sessionId}/steps`, idempotencyKey, body, randomUUID());
  const input: AddStepInput = {
    stepId,
    prompt: body.prompt,
    negativePrompt: body.negative_prompt ?? null,
    modelKey: model.key,
    parameters,
    batchSize,
    parentId: body.parent_id ?? null,
  };
  const handle = deps.temporal.workflow.getHandle(session.workflowId ?? sessionWorkflowId(sessionId));
  try {
    const result = await handle.executeUpdate(addStepUpdate, { args: [input], updateId: `add-step/${stepId}` });
    const workflowId = stepWorkflowId(result.stepId);
    return {
      id: result.stepId,
      session_id: sessionId,
      batch_id: result.batchId,
      position: result.position,
      status: result.status,
      workflow_id: workflowId,
      temporal_ui_url: temporalUiUrl(deps.config, workflowId),
    };
  } catch (err) {
    updateError(err);
  }
}

function fieldName(field: string): string {
  return ({ cfgScale: 'cfg_scale', seeds: 'seed', batchSize: 'batch_size' } as Record<string, string>)[field] ?? field;
}

async function stepAndSession(db: Db, stepId: string) {
  const [row] = await db
    .select({ step: generationSteps, session: generationSessions })
    .from(generationSteps)
    .innerJoin(generationSessions, eq(generationSessions.id, generationSteps.sessionId))
    .where(eq(generationSteps.id, stepId));
  if (!row) throw notFound('step', stepId);
  return row;
}

/** A step's status, progress and images. @throws AppError not_found */
export async function getStepStatus(deps: GenerationDeps, stepId: string) {
  const { step } = await stepAndSession(deps.database.db, stepId);
  const images = await imagesOf(deps.database.db, [stepId]);
  const v = stepView(deps.config, step, images.get(stepId) ?? []);
  return {
    id: v.id,
    session_id: v.session_id,
    status: v.status,
    batch_id: v.batch_id,
    progress: v.progress,
    error_message: v.error_message,
    images: v.images,
    retrieval_stats: v.retrieval_stats,
    workflow_id: v.workflow_id,
    temporal_ui_url: v.temporal_ui_url,
  };
}

/**
 * Selects `imageId` among the step's alternatives (through the session workflow).
 * @throws AppError not_found (step, or an image that is not one of its alternatives), conflict
 */
export async function selectImage(deps: GenerationDeps, stepId: string, imageId: string) {
  const { db } = deps.database;
  const { session } = await stepAndSession(db, stepId);
  const [alt] = await db.select().from(stepAlternatives).where(and(eq(stepAlternatives.stepId, stepId), eq(stepAlternatives.imageId, imageId)));
  if (!alt) throw notFound(`image ${imageId} among the alternatives of step`, stepId);
  try {
    await deps.temporal.workflow
      .getHandle(session.workflowId ?? sessionWorkflowId(session.id))
      .executeUpdate(selectAlternativeUpdate, { args: [{ stepId, imageId }] });
  } catch (err) {
    updateError(err);
  }
  return getStepStatus(deps, stepId);
}

/**
 * Retries the step's failed retrievals: through the session workflow while it runs, directly
 * (one retrieval workflow per photo) once the session has ended.
 * @throws AppError not_found
 */
export async function retryStepRetrievals(deps: GenerationDeps, stepId: string): Promise<{ photo_ids: string[] }> {
  const { db } = deps.database;
  const { session } = await stepAndSession(db, stepId);
  try {
    const r = await deps.temporal.workflow
      .getHandle(session.workflowId ?? sessionWorkflowId(session.id))
      .executeUpdate(retryRetrievalsUpdate, { args: [{ stepId }] });
    return { photo_ids: r.photoIds };
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError) && !(err instanceof WorkflowUpdateFailedError)) throw err;
  }
  const failed = await failedPhotoIdsOfStep(db, stepId);
  for (const id of failed) await requestPhotoRetrieval(deps, id, { resetAttempts: true });
  return { photo_ids: failed };
}

/**
 * Completes or abandons the session: the workflow ends (running steps still finish), and
 * `completed_at` is set. Ending an ended session returns it as it is.
 * @throws AppError not_found
 */
export async function endSession(deps: GenerationDeps, sessionId: string, status: 'completed' | 'abandoned') {
  const { db } = deps.database;
  const [session] = await db.select().from(generationSessions).where(eq(generationSessions.id, sessionId));
  if (!session) throw notFound('session', sessionId);
  if (session.status === 'active') {
    try {
      await deps.temporal.workflow
        .getHandle(session.workflowId ?? sessionWorkflowId(sessionId))
        .executeUpdate(endSessionUpdate, { args: [{ status }] });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) updateError(err);
      // The workflow is gone (e.g. terminated by an operator): keep the row truthful.
      await db.update(generationSessions).set({ status, completedAt: new Date() }).where(and(eq(generationSessions.id, sessionId), eq(generationSessions.status, 'active')));
    }
  }
  return getSession(deps, sessionId);
}

/** A compact snapshot of a session's steps for the event stream: id → status/progress/counts. */
export async function stepSnapshots(db: Db, sessionId: string) {
  const rows = await db
    .select({
      id: generationSteps.id,
      position: generationSteps.position,
      status: generationSteps.status,
      progress: generationSteps.progress,
      images_retrieved: generationSteps.imagesRetrieved,
      images_failed: generationSteps.imagesFailed,
      error_message: generationSteps.errorMessage,
    })
    .from(generationSteps)
    .where(eq(generationSteps.sessionId, sessionId))
    .orderBy(asc(generationSteps.position));
  const [session] = await db.select({ status: generationSessions.status }).from(generationSessions).where(eq(generationSessions.id, sessionId));
  return { sessionStatus: session?.status, steps: rows };
}

/**
 * Activities that keep the generation catalog in PostgreSQL: sessions, steps, step alternatives
 * and the retrieval status of generated photos. Each is idempotent: run twice, it leaves the same
 * rows (keys chosen by the workflow, `ON CONFLICT DO NOTHING`, conditional updates).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { AppError, conflict, notFound } from '../src/errors.js';
import { generationSessions, generationSteps, photos, stepAlternatives } from '../src/db/schema.js';
import { getModel } from '../src/models/queries.js';
import { getSettings } from '../src/settings/service.js';
import { resolveDataPath, removeFile } from '../src/storage/files.js';
import { selectionPaths } from '../src/generation/paths.js';
import { failedPhotoIdsOfStep } from '../src/generation/queries.js';
import type { AddStepInput, StepParameters } from '../workflows/messages.js';
import type { RetrievalPolicy } from '../workflows/generation-step.js';
import type { ActivityDeps } from './index.js';

/** A queue item that ended without an image (from `awaitBatch`). */
export interface ItemFailure {
  itemId: number;
  errorType?: string;
  errorMessage?: string;
}

/** Builds the catalog activities. */
export function createGenerationActivities({ database, config }: ActivityDeps) {
  const { db } = database;

  async function stepRow(stepId: string) {
    const [step] = await db.select().from(generationSteps).where(eq(generationSteps.id, stepId));
    if (!step) throw notFound('step', stepId);
    return step;
  }

  async function retrievalPolicy(): Promise<RetrievalPolicy> {
    const s = await getSettings(db);
    return {
      maxAttempts: s.maxRetrievalAttempts ?? 5,
      retryDelayS: s.retrievalRetryDelay ?? 60,
      parallel: s.parallelRetrievals ?? 3,
    };
  }

  /** Recounts a step's images; `completed` once one arrived, else `failed` (when `close`). */
  async function recountStep(stepId: string, close: boolean, failures: ItemFailure[] = []) {
    const step = await stepRow(stepId);
    const rows = await db
      .select({ status: photos.retrievalStatus, error: photos.retrievalError })
      .from(stepAlternatives)
      .innerJoin(photos, eq(photos.id, stepAlternatives.imageId))
      .where(eq(stepAlternatives.stepId, stepId));
    const progress = (step.progress ?? {}) as Record<string, unknown>;
    const missing = failures.length > 0 ? failures.length : Number(progress.items_failed ?? 0);
    const retrieved = rows.filter((r) => r.status === 'completed').length;
    const failed = rows.filter((r) => r.status === 'failed').length + missing;
    const set: Partial<typeof generationSteps.$inferInsert> = { imagesRetrieved: retrieved, imagesFailed: failed };
    if (failures.length > 0) set.progress = { ...progress, items_failed: failures.length };
    if (close || step.status === 'completed' || step.status === 'failed') {
      set.status = retrieved > 0 ? 'completed' : 'failed';
      set.progress = { ...progress, ...(set.progress ?? {}), stage: 'done' };
      set.completedAt = step.completedAt ?? new Date();
      if (retrieved === 0) {
        const itemErrors = [...new Set(failures.map((f) => [f.errorType, f.errorMessage].filter(Boolean).join(': ')))];
        const retrievalErrors = [...new Set(rows.map((r) => r.error).filter((e): e is string => Boolean(e)))];
        set.errorMessage = itemErrors.join('; ') || retrievalErrors.join('; ') || step.errorMessage || 'no image was produced';
      } else {
        set.errorMessage = null;
      }
    }
    await db.update(generationSteps).set(set).where(eq(generationSteps.id, stepId));
    return { status: (set.status ?? step.status) as 'pending' | 'processing' | 'completed' | 'failed', retrieved, failed };
  }

  return {
    /** Creates the session row if missing (the workflow's first act, so no workflow lacks its row). */
    async ensureSessionRecord(input: { sessionId: string; entryType: 'scratch' | 'refinement'; sourceImageId: string | null; workflowId: string }) {
      await db
        .insert(generationSessions)
        .values({ id: input.sessionId, entryType: input.entryType, sourceImageId: input.sourceImageId, workflowId: input.workflowId })
        .onConflictDoNothing();
    },

    /** Sets the session's final status and `completed_at` (only from `active`). */
    async endSessionRecord(input: { sessionId: string; status: 'completed' | 'abandoned' }) {
      await db
        .update(generationSessions)
        .set({ status: input.status, completedAt: new Date() })
        .where(and(eq(generationSessions.id, input.sessionId), eq(generationSessions.status, 'active')));
    },

    /**
     * Records a step (`pending`) with the workflow-chosen `batch_id` and CID marker; a second call
     * returns the row the first one wrote.
     * @throws AppError validation_error for an unknown model (non-retryable)
     */
    async createStepRecord(input: AddStepInput & { sessionId: string; batchId: string; correlationId: string; position: number }) {
      const model = await getModel(db, input.modelKey);
      if (!model) throw new AppError('validation_error', `unknown model ${input.modelKey}`);
      const parameters: StepParameters = { ...input.parameters, base: model.base };
      await db
        .insert(generationSteps)
        .values({
          id: input.stepId,
          sessionId: input.sessionId,
          parentId: input.parentId,
          prompt: input.prompt,
          negativePrompt: input.negativePrompt,
          parameters: parameters as unknown as Record<string, unknown>,
          modelKey: model.key,
          modelHash: model.hash,
          modelName: model.name,
          batchId: input.batchId,
          correlationId: input.correlationId,
          position: input.position,
          batchSize: input.batchSize,
          progress: { stage: 'pending', items_done: 0, items_total: input.batchSize },
        })
        .onConflictDoNothing();
      await db.execute(sql`UPDATE models SET last_used_at = now() WHERE key = ${model.key}`);
      const step = await stepRow(input.stepId);
      return { stepId: step.id, batchId: step.batchId, position: step.position, status: step.status };
    },

    /** What the step workflow needs up front: a one-line summary, i2i or not, the retrieval policy. */
    async loadStepPlan(input: { stepId: string }) {
      const step = await stepRow(input.stepId);
      const p = step.parameters as unknown as StepParameters;
      const prompt = step.prompt.length > 60 ? `${step.prompt.slice(0, 57)}…` : step.prompt;
      return {
        summary: `step ${step.position}: “${prompt}” × ${step.batchSize ?? 1} (${step.modelName ?? step.modelKey}, ${p.width}×${p.height})`,
        imageToImage: typeof p.strength === 'number',
        retrieval: await retrievalPolicy(),
      };
    },

    /** Closes a step from its photos: counts, status, InvokeAI's error when nothing arrived. */
    async finalizeStep(input: { stepId: string; failures: ItemFailure[] }) {
      return recountStep(input.stepId, true, input.failures);
    },

    /** Marks a step `failed` with `error` (a refused batch, failed items, an unknown model). */
    async failStep(input: { stepId: string; error: string }) {
      await db
        .update(generationSteps)
        .set({
          status: 'failed',
          errorMessage: input.error,
          completedAt: new Date(),
          progress: sql`coalesce(${generationSteps.progress}, '{}'::jsonb) || '{"stage":"done"}'::jsonb`,
        })
        .where(eq(generationSteps.id, input.stepId));
    },

    /** The photo's attempts ran out: `failed` with its last error. */
    async markRetrievalFailed(input: { photoId: string; error: string }) {
      await db
        .update(photos)
        .set({ retrievalStatus: 'failed', retrievalError: input.error })
        .where(and(eq(photos.id, input.photoId), sql`${photos.retrievalStatus} <> 'completed'`));
    },

    /** Failed retrievals of a step (with an InvokeAI image name), for a retry. */
    async failedPhotosOfStep(input: { stepId: string }): Promise<string[]> {
      return failedPhotoIdsOfStep(db, input.stepId);
    },

    /**
     * Before a retry of one photo: skip unless it is `failed`; a person's retry restarts the
     * attempt counter, the schedule's uses the attempts left.
     */
    async prepareRetry(input: { photoId: string; resetAttempts: boolean }): Promise<RetrievalPolicy & { skip: boolean; retrievalStatus: string }> {
      const [photo] = await db.select().from(photos).where(eq(photos.id, input.photoId));
      const policy = await retrievalPolicy();
      if (!photo || photo.retrievalStatus !== 'failed' || !photo.invokeId) {
        return { ...policy, skip: true, retrievalStatus: photo?.retrievalStatus ?? 'missing' };
      }
      const used = input.resetAttempts ? 0 : (photo.retrievalAttempts ?? 0);
      if (used >= policy.maxAttempts) return { ...policy, skip: true, retrievalStatus: 'failed' };
      await db
        .update(photos)
        .set({ retrievalStatus: 'pending', ...(input.resetAttempts ? { retrievalAttempts: 0 } : {}) })
        .where(eq(photos.id, input.photoId));
      return { ...policy, maxAttempts: policy.maxAttempts - used, parallel: 1, skip: false, retrievalStatus: 'pending' };
    },

    /** After a photo's retry: recount its step; returns the photo's status. */
    async refreshStepOfPhoto(input: { photoId: string }) {
      const [alt] = await db.select().from(stepAlternatives).where(eq(stepAlternatives.imageId, input.photoId));
      if (alt) await recountStep(alt.stepId, false);
      const [photo] = await db.select({ s: photos.retrievalStatus }).from(photos).where(eq(photos.id, input.photoId));
      return { retrievalStatus: photo?.s ?? 'missing' };
    },

    /**
     * Selects one alternative of a step: exactly one `selected`, `selected_image_id` set, and the
     * image filed under `selected/` and `completed/{yyyy-mm-dd}/` (hard links; an earlier
     * selection's copies are removed). Idempotent.
     * @throws AppError not_found (not an alternative of the step), conflict (not retrieved yet)
     */
    async selectAlternative(input: { stepId: string; imageId: string }) {
      const step = await stepRow(input.stepId);
      const [alt] = await db
        .select({ photo: photos })
        .from(stepAlternatives)
        .innerJoin(photos, eq(photos.id, stepAlternatives.imageId))
        .where(and(eq(stepAlternatives.stepId, input.stepId), eq(stepAlternatives.imageId, input.imageId)));
      if (!alt) throw new AppError('not_found', `image ${input.imageId} is not an alternative of step ${input.stepId}`);
      if (alt.photo.retrievalStatus !== 'completed' || !alt.photo.localStoragePath) {
        throw conflict(`image ${input.imageId} is not retrieved yet (retrieval_status ${alt.photo.retrievalStatus})`);
      }
      const previous = step.selectedImageId;
      await db.transaction(async (tx) => {
        await tx.update(stepAlternatives).set({ selected: false }).where(eq(stepAlternatives.stepId, input.stepId));
        await tx
          .update(stepAlternatives)
          .set({ selected: true })
          .where(and(eq(stepAlternatives.stepId, input.stepId), eq(stepAlternatives.imageId, input.imageId)));
        await tx.update(generationSteps).set({ selectedImageId: input.imageId }).where(eq(generationSteps.id, input.stepId));
      });
      const data = (p: string) => resolveDataPath(config.DATA_DIR, p);
      const now = new Date();
      if (previous && previous !== input.imageId) {
        const old = selectionPaths(step.sessionId, step.id, previous, now);
        await removeFile(data(old.selected));
        await removeFile(data(old.selectedThumb));
        for (const dir of ['photos/generated/completed', 'photos/thumbnails/generated/completed']) {
          const days = await fs.readdir(data(dir)).catch(() => [] as string[]);
          for (const day of days) for (const ext of ['png', 'webp']) await removeFile(data(`${dir}/${day}/${previous}.${ext}`));
        }
      }
      const to = selectionPaths(step.sessionId, step.id, input.imageId, now);
      await linkInto(data(alt.photo.localStoragePath), data(to.selected));
      await linkInto(data(alt.photo.localStoragePath), data(to.completed));
      if (alt.photo.localThumbnailPath) {
        await linkInto(data(alt.photo.localThumbnailPath), data(to.selectedThumb));
        await linkInto(data(alt.photo.localThumbnailPath), data(to.completedThumb));
      }
      return { stepId: input.stepId, imageId: input.imageId };
    },

  };
}

/** Hard-links `from` at `to` (a copy where links are not possible); replaces `to` if present. */
async function linkInto(from: string, to: string): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  await removeFile(to);
  try {
    await fs.link(from, to);
  } catch {
    await fs.copyFile(from, to);
  }
}

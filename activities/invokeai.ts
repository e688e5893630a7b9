/**
 * Activities that talk to InvokeAI for a generation step: wait for the backend, upload an
 * image-to-image init image, enqueue the batch exactly once, wait for its queue items, and
 * correlate the images by the step's CID marker before recording them as photos.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { heartbeat, log, sleep } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import sharp from 'sharp';
import { AppError, conflict } from '../src/errors.js';
import { applicationSettings, generationSessions, generationSteps, photos, stepAlternatives } from '../src/db/schema.js';
import { backendClient, backendUrl } from '../src/generation/backend.js';
import { getBatchImages, enqueueBatchOnce, isBatchDone, type BatchImage } from '../src/invokeai/batch-images.js';
import type { InvokeAIClient } from '../src/invokeai/client.js';
import { getInvokeAIClient } from '../src/invokeai/client.js';
import {
  buildImageToImageBatch,
  buildTextToImageBatch,
  CID_METADATA_KEY,
  expandSeeds,
} from '../src/invokeai/graphs/index.js';
import { defaultVaeForModel, getModel } from '../src/models/queries.js';
import { getSettings } from '../src/settings/service.js';
import { resolveDataPath } from '../src/storage/files.js';
import { runpodApiKey, usesRunPod } from '../src/runpod/pod-service.js';
import type { StepParameters } from '../workflows/messages.js';
import type { ItemFailure } from './generation.js';
import type { ActivityDeps } from './index.js';
import { tryPodLease, type PodLeaseMemo } from './runpod.js';

/** How often `awaitBatch` polls the batch status (ms): one cheap counts-only call, and the step's latency after its batch finishes. */
const POLL_MS = 50;
/** How often `ensureBackend` retries an InvokeAI that does not answer (ms). */
const BACKEND_RETRY_MS = 2000;

/** Builds the InvokeAI activities. */
export function createInvokeAIActivities({ database, config }: ActivityDeps) {
  const { db } = database;

  async function loadStep(stepId: string) {
    const [row] = await db
      .select({ step: generationSteps, session: generationSessions })
      .from(generationSteps)
      .innerJoin(generationSessions, eq(generationSessions.id, generationSteps.sessionId))
      .where(eq(generationSteps.id, stepId));
    if (!row) throw new AppError('not_found', `step ${stepId} not found`);
    return { ...row, params: row.step.parameters as unknown as StepParameters };
  }

  async function setProgress(stepId: string, progress: Record<string, unknown>) {
    await db
      .update(generationSteps)
      .set({ progress: sql`coalesce(${generationSteps.progress}, '{}'::jsonb) || ${JSON.stringify(progress)}::jsonb` })
      .where(eq(generationSteps.id, stepId));
  }

  /** Images of the step found by listing the session's board (or recent images) and checking the CID. */
  async function recoverByCid(client: InvokeAIClient, boardId: string | null, correlationId: string, wanted: number): Promise<BatchImage[]> {
    const found: BatchImage[] = [];
    for (let offset = 0; offset < 500 && found.length < wanted; offset += 100) {
      const page = await client.listImages({ boardId: boardId ?? undefined, offset, limit: 100, orderDir: 'DESC' });
      for (const image of page.items) {
        const meta = await client.getImageMetadata(image.image_name).catch(() => null);
        if (meta?.[CID_METADATA_KEY] === correlationId) {
          found.push({ itemId: -1, imageName: image.image_name, seed: typeof meta.seed === 'number' ? meta.seed : undefined });
        }
      }
      if (page.items.length < 100) break;
    }
    return found;
  }

  return {
    /**
     * Waits until the backend answers `GET /api/v1/app/version`, heartbeating; records the
     * connection in the settings. Publishes `waiting_for_backend` on the step meanwhile.
     * In remote mode with a RunPod key, starts the pod workflow if none runs and takes the step's
     * lease on it first (`tryPodLease`): the result then names the pod workflow, and the step
     * must release the lease.
     * @throws ApplicationFailure `budget_exceeded` / `runpod_error` (non-retryable) from `tryPodLease`
     */
    async ensureBackend(input: { stepId: string }): Promise<{ url: string; version: string; podWorkflowId?: string }> {
      const podMemo: PodLeaseMemo = {};
      const [row] = await db.select({ parameters: generationSteps.parameters }).from(generationSteps).where(eq(generationSteps.id, input.stepId));
      // A step may ask for the pod itself; once the pod is ready the backend is in remote mode for everyone.
      const stepWantsRemote = (row?.parameters as StepParameters | undefined)?.backend === 'remote';
      for (let attempt = 0; ; attempt++) {
        const settings = await getSettings(db);
        let url = backendUrl(settings, config);
        let error = 'remote mode: waiting for the pod';
        let podWorkflowId: string | undefined;
        if (usesRunPod(settings, config) || (stepWantsRemote && runpodApiKey(settings, config) !== undefined)) {
          const lease = await tryPodLease({ db, config }, input.stepId, podMemo);
          if ('waiting' in lease) [url, error] = [undefined, lease.waiting];
          else [url, podWorkflowId] = [lease.url, lease.podWorkflowId];
        }
        if (url) {
          try {
            const { version } = await getInvokeAIClient(url).getAppVersion();
            await db
              .update(applicationSettings)
              .set({ isConnected: true, lastConnectedAt: new Date(), apiVersion: version })
              .where(eq(applicationSettings.id, 1));
            if (attempt > 0) await setProgress(input.stepId, { stage: 'pending', message: null });
            return { url, version, ...(podWorkflowId ? { podWorkflowId } : {}) };
          } catch (err) {
            error = `InvokeAI at ${url} does not answer: ${(err as Error).message}`;
          }
        }
        if (attempt === 0) {
          await db.update(applicationSettings).set({ isConnected: false }).where(eq(applicationSettings.id, 1));
          await setProgress(input.stepId, { stage: 'waiting_for_backend', message: error });
          log.warn('backend not reachable; the step waits', { stepId: input.stepId, error });
        }
        heartbeat({ waiting: error });
        await sleep(BACKEND_RETRY_MS);
      }
    },

    /**
     * Uploads the image-to-image source to InvokeAI (`POST /api/v1/images/upload`), resized to the
     * step's size: the parent step's selection, or the refinement session's source photo (uploaded
     * once per session). Stores the image_name on the step.
     * @throws AppError conflict when the parent step has no selected image
     */
    async prepareInitImage(input: { stepId: string }): Promise<{ imageName: string }> {
      const { step, session, params } = await loadStep(input.stepId);
      if (step.initImageName) return { imageName: step.initImageName };
      let sourceId: string | null = null;
      let sessionLevel = false;
      if (step.parentId) {
        const [parent] = await db.select().from(generationSteps).where(eq(generationSteps.id, step.parentId));
        sourceId = parent?.selectedImageId ?? null;
        if (!sourceId) throw conflict(`parent step ${step.parentId} has no selected image`);
      } else {
        sourceId = session.sourceImageId;
        sessionLevel = true;
      }
      if (!sourceId) throw new AppError('validation_error', 'an image-to-image step needs a parent selection or a refinement source');
      let imageName = sessionLevel ? session.sourceInvokeImageName : null;
      if (!imageName) {
        const [photo] = await db.select().from(photos).where(eq(photos.id, sourceId));
        if (!photo?.localStoragePath) throw conflict(`source photo ${sourceId} has no file`);
        const png = await sharp(await fs.readFile(resolveDataPath(config.DATA_DIR, photo.localStoragePath)))
          .autoOrient()
          .resize(params.width, params.height, { fit: 'cover' })
          .png()
          .toBuffer();
        const client = await backendClient(db, config);
        const dto = await client.uploadImage({ data: png, filename: `${sourceId}.png`, contentType: 'image/png' });
        imageName = dto.image_name;
        if (sessionLevel) {
          await db.update(generationSessions).set({ sourceInvokeImageName: imageName }).where(eq(generationSessions.id, session.id));
        }
      }
      await db.update(generationSteps).set({ initImageName: imageName }).where(eq(generationSteps.id, step.id));
      return { imageName };
    },

    /**
     * Enqueues the step's batch exactly once (`POST /api/v1/queue/default/enqueue_batch` with our
     * `batch_id`): nothing is sent when the step already has its item ids, when InvokeAI already
     * holds the batch, or when an earlier attempt's images are found by their CID marker.
     * Stores `item_ids` and sets the step `processing`.
     * @throws InvokeAIValidationError (non-retryable) when InvokeAI refuses the batch
     */
    async enqueueStep(input: { stepId: string }): Promise<{ batchId: string; itemIds: number[] }> {
      const { step, session, params } = await loadStep(input.stepId);
      if (step.itemIds && step.itemIds.length > 0) return { batchId: step.batchId, itemIds: step.itemIds };
      const client = await backendClient(db, config);
      const model = await getModel(db, step.modelKey);
      if (!model) throw new AppError('validation_error', `unknown model ${step.modelKey}`);
      const vae = await defaultVaeForModel(db, model);

      let boardId = session.boardId;
      if (!boardId) {
        boardId = (await client.createBoard(`photo-gallery ${session.id.slice(0, 8)}`)).board_id;
        await db.update(generationSessions).set({ boardId }).where(eq(generationSessions.id, session.id));
      }
      const common = {
        stepId: step.id,
        batchId: step.batchId,
        correlationId: step.correlationId!,
        model,
        vae: vae ?? null,
        prompt: step.prompt,
        negativePrompt: step.negativePrompt,
        width: params.width,
        height: params.height,
        steps: params.steps,
        cfgScale: params.cfg_scale,
        scheduler: params.scheduler,
        seeds: expandSeeds(params.seed, step.batchSize ?? 1),
        boardId,
      };
      const body =
        typeof params.strength === 'number' && step.initImageName
          ? buildImageToImageBatch(
              { ...common, initImage: { imageName: step.initImageName, width: params.width, height: params.height }, strength: params.strength },
              { maxBatchSize: config.MAX_BATCH_SIZE },
            )
          : buildTextToImageBatch(common, { maxBatchSize: config.MAX_BATCH_SIZE });

      // An earlier attempt may have enqueued and the queue since been pruned: its images prove it.
      const progress = (step.progress ?? {}) as Record<string, unknown>;
      if (progress.enqueue_attempted) {
        const status = await client.getBatchStatus(step.batchId);
        if (status.total === 0) {
          const found = await recoverByCid(client, boardId, step.correlationId!, 1);
          if (found.length > 0) {
            log.warn('batch already ran and was pruned; not enqueueing again', { stepId: step.id });
            await db.update(generationSteps).set({ itemIds: [], status: 'processing' }).where(eq(generationSteps.id, step.id));
            return { batchId: step.batchId, itemIds: [] };
          }
        }
      }
      await setProgress(step.id, { enqueue_attempted: true, stage: 'enqueueing' });
      const r = await enqueueBatchOnce(client, body);
      if (r.itemIds.length === 0) throw new Error(`InvokeAI queue is full: 0 of ${r.requested} items enqueued`);
      await db
        .update(generationSteps)
        .set({
          itemIds: r.itemIds,
          status: 'processing',
          progress: sql`coalesce(${generationSteps.progress}, '{}'::jsonb) || ${JSON.stringify({ stage: 'queued', items_done: 0, items_total: r.itemIds.length, already_enqueued: r.alreadyEnqueued })}::jsonb`,
        })
        .where(eq(generationSteps.id, step.id));
      return { batchId: r.batchId, itemIds: r.itemIds };
    },

    /**
     * Polls the batch (`GET .../b/{batch_id}/status`, then `POST .../items_by_ids`) until every
     * queue item has finished, heartbeating and publishing `items_done/items_total` on the step.
     * Completed items are mapped to images through `session.results`; when the items were pruned,
     * images are recovered from the session's board by their CID marker only.
     */
    async awaitBatch(input: { stepId: string }): Promise<{ images: BatchImage[]; failed: ItemFailure[]; recovered: boolean }> {
      const { step, session } = await loadStep(input.stepId);
      const itemIds = step.itemIds ?? [];
      const total = itemIds.length || (step.batchSize ?? 1);
      let lastDone = -1;
      // Resolved once: the backend cannot change under a running batch (a remote step holds the pod's lease).
      const client = await backendClient(db, config);
      for (;;) {
        const status = await client.getBatchStatus(step.batchId);
        if (status.total === 0 || itemIds.length === 0) {
          // Pruned (or recorded as already run): accept only images carrying our marker.
          const images = await recoverByCid(client, session.boardId, step.correlationId!, total);
          const failed: ItemFailure[] = Array.from({ length: Math.max(0, total - images.length) }, (_, i) => ({
            itemId: -1 - i,
            errorType: 'QueueItemPruned',
            errorMessage: 'queue item was pruned before its image could be read, and no image carries its marker',
          }));
          await setProgress(step.id, { stage: 'done', items_done: total, items_total: total, recovered: true });
          return { images, failed, recovered: true };
        }
        const done = status.completed + status.failed + status.canceled;
        if (done !== lastDone) {
          lastDone = done;
          await setProgress(step.id, { stage: isBatchDone(status) ? 'done' : 'generating', items_done: done, items_total: status.total });
        }
        heartbeat({ items_done: done, items_total: status.total });
        if (isBatchDone(status)) {
          const mapped = await getBatchImages(client, { batchId: step.batchId, itemIds });
          const seen = new Set([...mapped.images.map((i) => i.itemId), ...mapped.failed.map((f) => f.itemId), ...mapped.canceledItemIds]);
          const missing = itemIds.filter((id) => !seen.has(id));
          let images = mapped.images;
          if (missing.length > 0) {
            const recovered = await recoverByCid(client, session.boardId, step.correlationId!, total);
            const known = new Set(images.map((i) => i.imageName));
            images = [...images, ...recovered.filter((i) => !known.has(i.imageName))];
          }
          const failed: ItemFailure[] = [
            ...mapped.failed.map((f) => ({ itemId: f.itemId, errorType: f.errorType, errorMessage: f.errorMessage })),
            ...mapped.canceledItemIds.map((itemId) => ({ itemId, errorType: 'Canceled', errorMessage: 'queue item was canceled' })),
          ];
          return { images, failed, recovered: missing.length > 0 };
        }
        await sleep(POLL_MS);
      }
    },

    /**
     * Checks each image's metadata (`GET /api/v1/images/i/{name}/metadata`) for this step's CID
     * marker (and keeps it in `generation_params.invokeai_metadata`), then records a photo (`retrieval_status = 'pending'`) and a step alternative per
     * image. Idempotent: the unique `invoke_id` keeps a retry from adding a second photo.
     * Images without the marker are never taken.
     */
    async recordImages(input: { stepId: string; images: BatchImage[] }): Promise<Array<{ photoId: string; imageName: string }>> {
      const { step, session, params } = await loadStep(input.stepId);
      const client = await backendClient(db, config);
      let sourceImageId: string | null = null;
      if (typeof params.strength === 'number') {
        if (step.parentId) {
          const [parent] = await db.select({ s: generationSteps.selectedImageId }).from(generationSteps).where(eq(generationSteps.id, step.parentId));
          sourceImageId = parent?.s ?? null;
        } else sourceImageId = session.sourceImageId;
      }
      // One image at a time would cost a metadata round trip each; they are independent.
      const recorded = await Promise.all(
        input.images.map(async (image) => {
          const meta = await client.getImageMetadata(image.imageName);
          if (meta?.[CID_METADATA_KEY] !== step.correlationId) {
            log.warn('image without this step’s CID marker ignored', { stepId: step.id, imageName: image.imageName });
            return undefined;
          }
          const seed = image.seed ?? (typeof meta.seed === 'number' ? meta.seed : undefined);
          await db
            .insert(photos)
            .values({
              id: randomUUID(),
              filename: image.imageName,
              width: params.width,
              height: params.height,
              fileSize: 0,
              mimeType: 'image/png',
              isGenerated: true,
              generationPrompt: step.prompt,
              generationNegativePrompt: step.negativePrompt,
              generationParams: { ...params, seed, model_key: step.modelKey, batch_id: step.batchId, item_id: image.itemId, invokeai_metadata: meta },
              sourceImageId,
              invokeId: image.imageName,
              modelKey: step.modelKey,
              modelHash: step.modelHash,
              modelName: step.modelName,
              retrievalStatus: 'pending',
              retrievalAttempts: 0,
            })
            .onConflictDoNothing({ target: photos.invokeId, where: sql`${photos.invokeId} IS NOT NULL` });
          const [photo] = await db.select({ id: photos.id }).from(photos).where(eq(photos.invokeId, image.imageName));
          await db.insert(stepAlternatives).values({ stepId: step.id, imageId: photo!.id }).onConflictDoNothing();
          return { photoId: photo!.id, imageName: image.imageName };
        }),
      );
      const out = recorded.filter((r): r is { photoId: string; imageName: string } => r !== undefined);
      await setProgress(step.id, { stage: 'retrieving', images_found: out.length });
      return out;
    },
  };
}

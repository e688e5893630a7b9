/**
 * Batch → images, the exact way (reference "How to map a batch to its images"): never by recency,
 * always through each completed item's `session.source_prepared_mapping[<output node id>]` and
 * `session.results[<prepared id>].image.image_name`.
 */
import type { InvokeAIClient, CallOptions } from './client.js';
import { InvokeAIQueueItemFailedError } from './errors.js';
import { OUTPUT_NODE_ID, NOISE_NODE_ID, type EnqueueBatchBody } from './graphs/types.js';
import type { BatchStatus, QueueItemStatus, SessionQueueItem } from './schemas.js';

/** `total > 0` and nothing pending, in progress or waiting (an unknown/pruned batch has total 0: not done). */
export function isBatchDone(status: BatchStatus): boolean {
  return status.total > 0 && status.pending + status.in_progress + status.waiting === 0;
}

/** One image of a completed item. */
export interface BatchImage {
  itemId: number;
  imageName: string;
  /** the seed substituted into this item (`field_values` of the noise node), when present */
  seed?: number;
}

/** A failed item with InvokeAI's error. */
export interface BatchItemFailure {
  itemId: number;
  errorType?: string;
  errorMessage?: string;
  errorTraceback?: string;
  seed?: number;
}

/** What a set of queue items of one batch produced. */
export interface BatchImages {
  /** true when every item is `completed`, `failed` or `canceled` and there is at least one */
  done: boolean;
  images: BatchImage[];
  failed: BatchItemFailure[];
  canceledItemIds: number[];
  /** items still `pending`, `in_progress` or `waiting` */
  unfinishedItemIds: number[];
}

const FINISHED: ReadonlySet<QueueItemStatus> = new Set(['completed', 'failed', 'canceled']);

/**
 * The image names saved by `outputNodeId` in one completed item (one per prepared id; more than one
 * only if the graph iterates). Empty for an item that is not completed.
 */
export function imageNamesOfItem(item: SessionQueueItem, outputNodeId: string = OUTPUT_NODE_ID): string[] {
  if (item.status !== 'completed') return [];
  const prepared = item.session.source_prepared_mapping[outputNodeId] ?? [];
  const names: string[] = [];
  for (const id of prepared) {
    const name = item.session.results[id]?.image?.image_name;
    if (name) names.push(name);
  }
  return names;
}

/**
 * Maps the items of one batch to its images and failures. Items of other batches are ignored (so a
 * `list_all?destination=` answer can be passed as is). Ordered by item_id ascending (= seed order).
 */
export function mapBatchItems(
  items: SessionQueueItem[],
  batchId: string,
  outputNodeId: string = OUTPUT_NODE_ID,
): BatchImages {
  const mine = items.filter((i) => i.batch_id === batchId).sort((a, b) => a.item_id - b.item_id);
  const result: BatchImages = { done: false, images: [], failed: [], canceledItemIds: [], unfinishedItemIds: [] };
  for (const item of mine) {
    const seed = seedOf(item);
    if (item.status === 'completed') {
      for (const imageName of imageNamesOfItem(item, outputNodeId)) {
        result.images.push({ itemId: item.item_id, imageName, ...(seed !== undefined ? { seed } : {}) });
      }
    } else if (item.status === 'failed') {
      result.failed.push({
        itemId: item.item_id,
        ...(item.error_type ? { errorType: item.error_type } : {}),
        ...(item.error_message ? { errorMessage: item.error_message } : {}),
        ...(item.error_traceback ? { errorTraceback: item.error_traceback } : {}),
        ...(seed !== undefined ? { seed } : {}),
      });
    } else if (item.status === 'canceled') {
      result.canceledItemIds.push(item.item_id);
    } else {
      result.unfinishedItemIds.push(item.item_id);
    }
  }
  result.done = mine.length > 0 && mine.every((i) => FINISHED.has(i.status));
  return result;
}

/**
 * Fetches and maps a batch's items: by `itemIds` (`POST .../items_by_ids`) when known, else by
 * `destination` (`GET .../list_all?destination=`) filtered on `batchId`.
 * Items already pruned are simply absent; recover those through `listImages` on the step's board
 * and the CID key in `getImageMetadata`.
 */
export async function getBatchImages(
  client: InvokeAIClient,
  ref: { batchId: string; itemIds?: number[]; destination?: string; outputNodeId?: string },
  options?: CallOptions,
): Promise<BatchImages> {
  let items: SessionQueueItem[];
  if (ref.itemIds && ref.itemIds.length > 0) items = await client.getQueueItems(ref.itemIds, options);
  else if (ref.destination) items = await client.listQueueItemsByDestination(ref.destination, options);
  else throw new Error('getBatchImages needs itemIds or destination');
  return mapBatchItems(items, ref.batchId, ref.outputNodeId);
}

/** Throws `InvokeAIQueueItemFailedError` (non-retryable) when `item` ended `failed`; returns it otherwise. */
export function assertQueueItemNotFailed(item: SessionQueueItem): SessionQueueItem {
  if (item.status === 'failed') {
    throw new InvokeAIQueueItemFailedError(item.item_id, item.error_type ?? undefined, item.error_message ?? undefined);
  }
  return item;
}

/** Result of `enqueueBatchOnce`. */
export interface EnqueuedBatch {
  batchId: string;
  /** ascending */
  itemIds: number[];
  enqueued: number;
  requested: number;
  /** true when the batch was found already queued and nothing was sent */
  alreadyEnqueued: boolean;
}

/**
 * Enqueues `body` unless its client-chosen `batch_id` is already on the queue (a retry after a
 * reset/timeout whose first attempt was accepted): `GET .../b/{batch_id}/status` first, and when
 * `total > 0` the item ids come from `GET .../list_all?destination=` instead of a second
 * `POST .../enqueue_batch`. A batch whose items were pruned reads as not queued.
 * @throws the client's errors; InvokeAIValidationError when the body is refused
 */
export async function enqueueBatchOnce(
  client: InvokeAIClient,
  body: EnqueueBatchBody,
  options?: CallOptions,
): Promise<EnqueuedBatch> {
  const batchId = body.batch.batch_id;
  const status = await client.getBatchStatus(batchId, options);
  if (status.total > 0) {
    const destination = body.batch.destination;
    const items = destination ? await client.listQueueItemsByDestination(destination, options) : [];
    const itemIds = items
      .filter((i) => i.batch_id === batchId)
      .map((i) => i.item_id)
      .sort((a, b) => a - b);
    return { batchId, itemIds, enqueued: status.total, requested: status.total, alreadyEnqueued: true };
  }
  const r = await client.enqueueBatch(body, options);
  return {
    batchId: r.batch.batch_id,
    itemIds: [...r.item_ids].sort((a, b) => a - b),
    enqueued: r.enqueued,
    requested: r.requested,
    alreadyEnqueued: false,
  };
}

function seedOf(item: SessionQueueItem): number | undefined {
  const v = item.field_values?.find((f) => f.node_path === NOISE_NODE_ID && f.field_name === 'seed')?.value;
  return typeof v === 'number' ? v : undefined;
}

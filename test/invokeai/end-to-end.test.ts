/**
 * The client against the double, end to end: enqueue 4 images, wait, map batch → 4 image names
 * through the session results, fetch real PNGs (right size, CID key in `invokeai_metadata`) and
 * WEBP thumbnails; another client's images on the same board are never mapped; enqueueBatchOnce
 * never enqueues twice; refinement via upload; cancel; prune.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createInvokeAIClient, type InvokeAIClient } from '../../src/invokeai/client.js';
import { enqueueBatchOnce, getBatchImages, isBatchDone, mapBatchItems } from '../../src/invokeai/batch-images.js';
import { InvokeAINotFoundError } from '../../src/invokeai/errors.js';
import {
  CID_METADATA_KEY,
  buildImageToImageBatch,
  buildTextToImageBatch,
  expandSeeds,
  stepDestination,
  type ModelRecordLike,
} from '../../src/invokeai/graphs/index.js';
import { startInvokeAIDouble, type InvokeAIDouble } from '../doubles/invokeai/server.js';
import { DOUBLE_MODEL_KEYS } from '../doubles/invokeai/models.js';
import { readPngText } from '../doubles/invokeai/png.js';

let double: InvokeAIDouble;
let client: InvokeAIClient;

before(async () => {
  double = await startInvokeAIDouble({ itemMs: 5, seed: 3 });
  client = createInvokeAIClient({ baseUrl: double.url });
});
after(async () => {
  await client.close();
  await double.close();
});

async function waitDone(batchId: string) {
  for (;;) {
    const s = await client.getBatchStatus(batchId);
    if (isBatchDone(s)) return s;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const toRecord = (m: { key: string; hash: string; name: string; base: string; type: string }): ModelRecordLike => ({
  key: m.key,
  hash: m.hash,
  name: m.name,
  base: m.base,
  type: m.type,
});

describe('client vs double', () => {
  test('models: filters by type and repeated base_models', async () => {
    const mains = await client.listModels({ modelType: 'main', baseModels: ['sdxl', 'sd-1'] });
    assert.ok(mains.length >= 3);
    assert.ok(mains.every((m) => m.type === 'main'));
    const vaes = await client.listModels({ modelType: 'vae', baseModels: ['sd-1'] });
    assert.deepEqual(vaes.map((v) => v.key), [DOUBLE_MODEL_KEYS.sd1Vae]);
  });

  test('4 images: batch → image names via the session, real PNGs with the CID, WEBP thumbnails', async () => {
    const models = await client.listModels({ modelType: 'main', baseModels: ['sdxl'] });
    const model = models.find((m) => m.key === DOUBLE_MODEL_KEYS.sdxlMain)!;
    const board = await client.createBoard('session board');
    assert.ok((await client.listBoards()).some((b) => b.board_id === board.board_id));
    double.admin.setFaults({ foreignImagesPerItem: 1, foreignSameBoard: true });

    const stepId = crypto.randomUUID();
    const correlationId = crypto.randomUUID();
    const body = buildTextToImageBatch({
      stepId,
      batchId: crypto.randomUUID(),
      correlationId,
      model: toRecord(model),
      prompt: 'a red fox in snow',
      width: 832,
      height: 576,
      steps: 20,
      cfgScale: 6,
      scheduler: 'dpmpp_2m_sde_k',
      seeds: expandSeeds(500, 4),
      boardId: board.board_id,
    });
    const first = await enqueueBatchOnce(client, body);
    assert.equal(first.alreadyEnqueued, false);
    assert.equal(first.enqueued, 4);
    assert.equal(first.requested, 4);
    // A retry after an ambiguous failure finds the batch instead of enqueueing it again.
    const again = await enqueueBatchOnce(client, body);
    assert.equal(again.alreadyEnqueued, true);
    assert.deepEqual(again.itemIds, first.itemIds);

    const status = await waitDone(body.batch.batch_id);
    assert.equal(status.completed, 4);
    assert.equal(status.destination, stepDestination(stepId));
    assert.equal(double.admin.stats().enqueues.byBatchId[body.batch.batch_id], 1);

    const mapped = await getBatchImages(client, { batchId: body.batch.batch_id, itemIds: first.itemIds });
    assert.equal(mapped.done, true);
    assert.equal(mapped.images.length, 4);
    assert.deepEqual(mapped.images.map((i) => i.seed), [500, 501, 502, 503]);
    assert.equal(new Set(mapped.images.map((i) => i.imageName)).size, 4);
    // Same answer through list_all?destination=
    const byDest = await getBatchImages(client, { batchId: body.batch.batch_id, destination: stepDestination(stepId) });
    assert.deepEqual(byDest.images, mapped.images);

    // Another client's images landed on the same board meanwhile; none of them is ours.
    const onBoard = await client.listImages({ boardId: board.board_id, limit: 100 });
    assert.equal(onBoard.total, 8);
    const ours = new Set(mapped.images.map((i) => i.imageName));
    const foreign = onBoard.items.filter((i) => !ours.has(i.image_name));
    assert.equal(foreign.length, 4);
    for (const f of foreign) {
      const meta = await client.getImageMetadata(f.image_name);
      assert.notEqual(meta?.[CID_METADATA_KEY], correlationId);
    }

    const pixels = new Set<string>();
    for (const { imageName } of mapped.images) {
      const dto = await client.getImageDTO(imageName);
      assert.equal(dto.board_id, board.board_id);
      assert.equal(dto.image_url, `api/v1/images/i/${imageName}/full`);
      const full = await client.getImageFull(imageName);
      assert.equal(full.contentType, 'image/png');
      const png = await readAll(full.body);
      assert.equal(png.length, full.contentLength);
      const info = await sharp(png).metadata();
      assert.deepEqual([info.format, info.width, info.height], ['png', 832, 576]);
      const text = readPngText(png);
      const meta = JSON.parse(text.invokeai_metadata!) as Record<string, unknown>;
      assert.equal(meta[CID_METADATA_KEY], correlationId);
      assert.equal(meta.positive_prompt, 'a red fox in snow');
      assert.ok(text.invokeai_graph, 'the graph chunk is there too');
      const apiMeta = await client.getImageMetadata(imageName);
      assert.equal(apiMeta?.[CID_METADATA_KEY], correlationId);
      pixels.add((await sharp(png).raw().toBuffer()).subarray(0, 3000).toString('hex'));

      const thumb = await client.getImageThumbnail(imageName);
      const t = await sharp(thumb).metadata();
      assert.equal(t.format, 'webp');
      assert.ok(t.width! <= 256 && t.height! <= 256);
    }
    assert.equal(pixels.size, 4, 'two seeds give different pictures');
    double.admin.setFaults({ foreignImagesPerItem: 0 });
  });

  test('refinement: upload the init image, image-to-image at its size', async () => {
    const init = await sharp({ create: { width: 512, height: 384, channels: 3, background: '#3366aa' } }).png().toBuffer();
    const uploaded = await client.uploadImage({ data: init, filename: 'init.png', contentType: 'image/png' });
    assert.equal(uploaded.image_origin, 'external');
    assert.equal(uploaded.is_intermediate, true);
    assert.deepEqual([uploaded.width, uploaded.height], [512, 384]);
    const [model] = await client.listModels({ modelType: 'main', baseModels: ['sd-1'] });
    const [vae] = await client.listModels({ modelType: 'vae', baseModels: ['sd-1'] });
    const body = buildImageToImageBatch({
      stepId: crypto.randomUUID(),
      batchId: crypto.randomUUID(),
      correlationId: crypto.randomUUID(),
      model: toRecord(model!),
      vae: toRecord(vae!),
      prompt: 'the same, at night',
      width: 512,
      height: 384,
      steps: 10,
      cfgScale: 5,
      scheduler: 'euler_a',
      seeds: [9, 10],
      initImage: { imageName: uploaded.image_name, width: uploaded.width, height: uploaded.height },
      strength: 0.4,
    });
    const r = await client.enqueueBatch(body);
    await waitDone(r.batch.batch_id);
    const items = await client.getQueueItems(r.item_ids);
    const mapped = mapBatchItems(items, r.batch.batch_id);
    assert.equal(mapped.images.length, 2, JSON.stringify(mapped.failed));
    const png = await readAll((await client.getImageFull(mapped.images[0]!.imageName)).body);
    const info = await sharp(png).metadata();
    assert.deepEqual([info.width, info.height], [512, 384]);
    const meta = JSON.parse(readPngText(png).invokeai_metadata!) as Record<string, unknown>;
    assert.equal(meta.generation_mode, 'img2img');
    assert.equal(meta.strength, 0.4);
  });

  test('cancel by destination, then prune: items gone, status zeros, images stay', async () => {
    double.admin.pause();
    const [model] = await client.listModels({ modelType: 'main', baseModels: ['sd-1'] });
    const stepId = crypto.randomUUID();
    const body = buildTextToImageBatch({
      stepId,
      batchId: crypto.randomUUID(),
      correlationId: crypto.randomUUID(),
      model: toRecord(model!),
      prompt: 'never mind',
      width: 512,
      height: 512,
      steps: 10,
      cfgScale: 5,
      scheduler: 'euler',
      seeds: [1, 2, 3],
    });
    const r = await client.enqueueBatch(body);
    const pending = await client.getBatchStatus(r.batch.batch_id);
    assert.equal(pending.pending, 3);
    assert.equal(isBatchDone(pending), false);
    assert.equal(await client.cancelByDestination(stepDestination(stepId)), 3);
    const canceled = await client.getBatchStatus(r.batch.batch_id);
    assert.equal(canceled.canceled, 3);
    assert.equal(isBatchDone(canceled), true);
    const mapped = await getBatchImages(client, { batchId: r.batch.batch_id, itemIds: r.item_ids });
    assert.deepEqual(mapped.canceledItemIds, [...r.item_ids].sort((a, b) => a - b));
    assert.equal(mapped.images.length, 0);
    assert.equal(await client.cancelByBatchIds([r.batch.batch_id]), 0);
    double.admin.resume();

    const imagesBefore = (await client.listImages({ limit: 1 })).total;
    assert.ok(double.admin.prune() > 0);
    await assert.rejects(client.getQueueItem(r.item_ids[0]!), InvokeAINotFoundError);
    const gone = await client.getBatchStatus(r.batch.batch_id);
    assert.equal(gone.total, 0);
    assert.equal(isBatchDone(gone), false, 'an unknown batch is not "done with 0 images"');
    assert.equal((await client.listImages({ limit: 1 })).total, imagesBefore);
  });

  test('GET /i/{id} omits null fields', async () => {
    double.admin.pause();
    const [model] = await client.listModels({ modelType: 'main', baseModels: ['sd-1'] });
    const r = await client.enqueueBatch(
      buildTextToImageBatch({
        stepId: crypto.randomUUID(),
        batchId: crypto.randomUUID(),
        correlationId: crypto.randomUUID(),
        model: toRecord(model!),
        prompt: 'x',
        width: 512,
        height: 512,
        steps: 1,
        cfgScale: 1,
        scheduler: 'euler',
        seeds: [1],
      }),
    );
    const res = await fetch(`${double.url}/api/v1/queue/default/i/${r.item_ids[0]}`);
    const raw = (await res.json()) as Record<string, unknown>;
    assert.equal('error_type' in raw, false);
    assert.equal('started_at' in raw, false);
    const listed = (await (await fetch(`${double.url}/api/v1/queue/default/list_all`)).json()) as Record<string, unknown>[];
    assert.equal(listed.find((i) => i.item_id === r.item_ids[0])!.error_type, null, 'list_all keeps nulls');
    double.admin.clear();
    double.admin.resume();
  });
});

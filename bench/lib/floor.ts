/**
 * The floor of the generation benchmarks: what the hardware does without Temporal and without the
 * database. Batches are enqueued on the InvokeAI double directly (same graph builder, same client),
 * and as each batch completes its images go through the same work as the `retrieveImage` activity —
 * streamed download to a temporary file, sharp header check, full decode into the WebP thumbnail,
 * atomic rename, thumbnail write — at `parallel` downloads per batch, in a plain loop.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { createInvokeAIClient, type InvokeAIClient } from '../../src/invokeai/client.js';
import { buildTextToImageBatch, expandSeeds, type ModelRecordLike } from '../../src/invokeai/graphs/index.js';
import { commitTempFile, tempPathFor, writeFileAtomic } from '../../src/storage/files.js';
import { makeThumbnail, SHARP_INPUT } from '../../src/storage/images.js';
import type { InvokeAIDouble } from '../../test/doubles/invokeai/server.js';

/** One batch as the double ran it: when its last item completed (ms since epoch) and its images. */
export interface DoneBatch {
  batchId: string;
  completedAtMs: number;
  imageNames: string[];
}

/** `YYYY-MM-DD HH:MM:SS.sss` (the double's UTC timestamps) → ms since epoch. */
export function doubleTimeMs(s: string): number {
  return Date.parse(s.replace(' ', 'T') + 'Z');
}

/** The batch's completion time and images once every item of `batchId` is completed, else undefined. */
export function batchDone(double: InvokeAIDouble, batchId: string): DoneBatch | undefined {
  const items = [...double.admin.state.items.values()].filter((i) => i.batch_id === batchId);
  if (items.length === 0 || items.some((i) => i.status !== 'completed')) return undefined;
  const sessions = new Set(items.map((i) => i.session_id));
  const imageNames = [...double.admin.state.images.values()].filter((img) => !img.is_intermediate && img.session_id && sessions.has(img.session_id)).map((img) => img.image_name);
  return { batchId, completedAtMs: Math.max(...items.map((i) => doubleTimeMs(i.completed_at!))), imageNames };
}

/** Enqueues one text-to-image batch of `count` images on the double, as a step would. */
export async function enqueueDirect(
  client: InvokeAIClient,
  p: { model: ModelRecordLike; width: number; height: number; count: number; seed: number },
): Promise<string> {
  const batchId = randomUUID();
  const body = buildTextToImageBatch({
    stepId: randomUUID(),
    batchId,
    correlationId: randomUUID(),
    model: p.model,
    prompt: 'a lighthouse on a cliff at dusk, volumetric light',
    width: p.width,
    height: p.height,
    steps: 30,
    cfgScale: 7.5,
    scheduler: 'euler',
    seeds: expandSeeds(p.seed, p.count),
  });
  await client.enqueueBatch(body);
  return batchId;
}

/** Downloads, checks, thumbnails and writes one image under `dir` (the activity's work, no database). */
export async function retrieveDirect(client: InvokeAIClient, imageName: string, dir: string, expect: { width: number; height: number }): Promise<number> {
  const finalPath = path.join(dir, 'variants', imageName);
  const tmp = tempPathFor(finalPath);
  const image = await client.getImageFull(imageName);
  let bytes = 0;
  image.body.on('data', (c: Buffer) => (bytes += c.length));
  await pipeline(image.body, fs.createWriteStream(tmp, { flags: 'wx' }));
  if (image.contentLength !== undefined && bytes !== image.contentLength) throw new Error(`truncated: ${bytes} of ${image.contentLength}`);
  const meta = await sharp(tmp, SHARP_INPUT).metadata();
  if (meta.format !== 'png' || meta.width !== expect.width || meta.height !== expect.height) throw new Error(`unexpected image ${meta.format} ${meta.width}×${meta.height}`);
  const thumbnail = await makeThumbnail(tmp);
  await commitTempFile(tmp, finalPath);
  await writeFileAtomic(path.join(dir, 'thumbnails', `${imageName}.webp`), thumbnail);
  return bytes;
}

/** Runs `fn` over `items` with at most `parallel` at once. */
export async function inLanes<T>(items: T[], parallel: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, parallel), items.length) }, lane));
}

/** Waits (polling the double's state every 2 ms) until `batchId` is completed. */
export async function waitBatch(double: InvokeAIDouble, batchId: string, timeoutMs = 120_000): Promise<DoneBatch> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = batchDone(double, batchId);
    if (done) return done;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} not done after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** What one floor run measured. */
export interface FloorRun {
  /** first enqueue → last image written, ms */
  elapsedMs: number;
  images: number;
  /** per batch: its completion in the double → its last image written, ms */
  perBatchMs: number[];
  imageNames: string[];
}

/**
 * The floor: `batches` batches of `batchSize` images, enqueued all at once (`concurrent`) or one
 * after the other, each retrieved as soon as it completes with `parallel` downloads.
 */
export async function runFloor(
  double: InvokeAIDouble,
  p: { model: ModelRecordLike; batches: number; batchSize: number; width: number; height: number; parallel: number; dir: string; concurrent: boolean },
): Promise<FloorRun> {
  const client = createInvokeAIClient({ baseUrl: double.url });
  await fsp.mkdir(path.join(p.dir, 'variants'), { recursive: true });
  const perBatchMs: number[] = [];
  const imageNames: string[] = [];
  const one = async (batchId: string) => {
    const done = await waitBatch(double, batchId);
    await inLanes(done.imageNames, p.parallel, (name) => retrieveDirect(client, name, p.dir, p));
    perBatchMs.push(Date.now() - done.completedAtMs);
    imageNames.push(...done.imageNames);
  };
  const t0 = Date.now();
  try {
    if (p.concurrent) {
      const ids: string[] = [];
      for (let i = 0; i < p.batches; i++) ids.push(await enqueueDirect(client, { ...p, count: p.batchSize, seed: 1000 + i * p.batchSize }));
      await Promise.all(ids.map(one));
    } else {
      for (let i = 0; i < p.batches; i++) await one(await enqueueDirect(client, { ...p, count: p.batchSize, seed: 1000 + i * p.batchSize }));
    }
    return { elapsedMs: Date.now() - t0, images: imageNames.length, perBatchMs, imageNames };
  } finally {
    await client.close();
  }
}

/**
 * Measures one upload of a ~20 MB JPEG of ≥ 20 megapixels through the real HTTP API: wall time
 * and the process's RSS (baseline, peak while uploading). Not a test; run it by hand:
 *
 *   source /tmp/dev-env.sh && node --import tsx test/photos/measure-upload.ts
 *
 * The JPEG is generated once into the OS temp folder and streamed from disk, so the client does
 * not hold it in memory.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { startTestApp } from '../helpers/app.js';
import { noise } from './fixtures.js';

const W = 6000;
const H = 4000;
const file = path.join(os.tmpdir(), `measure-upload-${W}x${H}.jpg`);

async function makeJpeg(): Promise<void> {
  if (await fs.stat(file).then((s) => s.size > 0, () => false)) return;
  // A smooth gradient with noise on top: photo-like entropy, ~20 MB at this quality.
  const small = sharp(noise(W / 8, H / 8, 3), { raw: { width: W / 8, height: H / 8, channels: 3 } }).resize(W, H, { kernel: 'cubic' });
  const grain = await sharp(noise(W, H, 4), { raw: { width: W, height: H, channels: 3 } }).raw().toBuffer();
  const base = await small.raw().toBuffer();
  for (let i = 0; i < base.length; i++) base[i] = Math.max(0, Math.min(255, base[i]! + ((grain[i]! - 128) >> 2)));
  await sharp(base, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 96 }).toFile(file);
}

await makeJpeg();
const size = (await fs.stat(file)).size;
const t = await startTestApp({ MAX_UPLOAD_SIZE: String(32 * 1024 * 1024) });
try {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);

  const boundary = 'measureBoundary7f3a';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* body() {
    yield head;
    for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
    yield tail;
  }
  const t0 = performance.now();
  const res = await fetch(`${t.url}/api/photos`, {
    method: 'POST',
    body: Readable.toWeb(Readable.from(body())) as unknown as RequestInit['body'],
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + size + tail.length) },
    duplex: 'half',
  } as RequestInit);
  const json = (await res.json()) as { width: number; height: number };
  const ms = performance.now() - t0;
  clearInterval(sampler);
  const MiB = 2 ** 20;
  console.log(
    JSON.stringify({
      status: res.status,
      bytes: size,
      megapixels: (json.width * json.height) / 1e6,
      upload_ms: Math.round(ms),
      rss_baseline_mib: +(baseline / MiB).toFixed(1),
      rss_peak_mib: +(peak / MiB).toFixed(1),
      rss_growth_mib: +((peak - baseline) / MiB).toFixed(1),
      max_rss_lifetime_mib: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    }),
  );
} finally {
  await t.close();
}

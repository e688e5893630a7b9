/**
 * Benchmark `upload`: a 24-megapixel JPEG (6000×4000, about 10 MB) through `POST /api/photos` over
 * loopback HTTP, streamed from disk → time until the answer (the original stored, the thumbnail
 * written, the row committed) and the growth of this process's RSS (API in this process), sampled
 * every 5 ms. Five uploads of different images (the same bytes would be deduplicated). Floor, same
 * run: the same work without HTTP and database (stream to a file with sha256, sharp header read,
 * thumbnail, rename). Targets: ≤ 400 ms, ≤ 150 MB.
 *
 *   npm run bench -- upload
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp from 'sharp';
import { commitTempFile, tempPathFor, writeFileAtomic } from '../src/storage/files.js';
import { makeThumbnail, strictFailOn } from '../src/storage/images.js';
import { startTestApp } from '../test/helpers/app.js';
import { noise } from '../test/photos/fixtures.js';
import { percentile, report, round, rssMb } from './lib/report.js';

const W = 6000;
const H = 4000;
const UPLOADS = 5;
const cacheDir = path.join(os.tmpdir(), 'photo-gallery-bench-upload');

/** A photo-like 24 MP JPEG (smooth gradient + grain), made once per seed and cached in the OS temp folder. */
async function makeJpeg(seed: number): Promise<string> {
  const file = path.join(cacheDir, `${W}x${H}-${seed}.jpg`);
  if (await fs.stat(file).then((s) => s.size > 0, () => false)) return file;
  await fs.mkdir(cacheDir, { recursive: true });
  const base = await sharp(noise(W / 8, H / 8, seed), { raw: { width: W / 8, height: H / 8, channels: 3 } }).resize(W, H, { kernel: 'cubic' }).raw().toBuffer();
  const grain = noise(W, H, seed + 100);
  for (let i = 0; i < base.length; i++) base[i] = Math.max(0, Math.min(255, base[i]! + ((grain[i]! - 128) >> 3)));
  await sharp(base, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toFile(file + '.part');
  await fs.rename(file + '.part', file);
  return file;
}

async function uploadOnce(url: string, file: string): Promise<{ ms: number; status: number }> {
  const size = (await fs.stat(file)).size;
  const boundary = 'benchBoundary7f3a';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* body() {
    yield head;
    for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
    yield tail;
  }
  const t0 = performance.now();
  const res = await fetch(`${url}/api/photos`, {
    method: 'POST',
    body: Readable.toWeb(Readable.from(body())) as unknown as RequestInit['body'],
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + size + tail.length) },
    duplex: 'half',
  } as RequestInit);
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

/** The floor: the same file work, no HTTP, no database. */
async function floorOnce(file: string, dir: string): Promise<number> {
  const t0 = performance.now();
  const final = path.join(dir, path.basename(file));
  const tmp = tempPathFor(final);
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), new Transform({ transform: (c: Buffer, _e, done) => (hash.update(c), done(null, c)) }), createWriteStream(tmp));
  hash.digest('hex');
  await sharp(tmp).metadata();
  const thumb = await makeThumbnail(tmp, { failOn: strictFailOn('jpeg') });
  await commitTempFile(tmp, final);
  await writeFileAtomic(path.join(dir, 'thumbs', path.basename(file) + '.webp'), thumb);
  return performance.now() - t0;
}

const files = [];
for (let i = 0; i < UPLOADS + 1; i++) files.push(await makeJpeg(i + 1));
const sizes = await Promise.all(files.map(async (f) => (await fs.stat(f)).size));
const t = await startTestApp({ MAX_UPLOAD_SIZE: String(32 * 2 ** 20) });
const floorDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-upload-floor-'));
try {
  await uploadOnce(t.url, files[UPLOADS]!); // warm-up (JIT, sharp, pools)
  await floorOnce(files[UPLOADS]!, floorDir);
  const times: number[] = [];
  const growth: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < UPLOADS; i++) {
    global.gc?.();
    const baseline = rssMb();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 5);
    const r = await uploadOnce(t.url, files[i]!);
    clearInterval(sampler);
    peak = Math.max(peak, rssMb());
    if (r.status !== 201) throw new Error(`upload answered ${r.status}`);
    times.push(r.ms);
    growth.push(peak - baseline);
    floor.push(await floorOnce(files[i]!, floorDir));
  }
  const p50 = percentile(times, 50);
  const floorP50 = percentile(floor, 50);
  await report(
    'upload',
    {
      ratio: round(floorP50 / p50, 3),
      uploads: UPLOADS,
      image_px: `${W}x${H}`,
      file_mb: round(sizes.slice(0, UPLOADS).reduce((a, b) => a + b, 0) / UPLOADS / 2 ** 20, 1),
      p50_ms: round(p50),
      max_ms: round(Math.max(...times)),
      floor_p50_ms: round(floorP50),
      peak_rss_mb: round(Math.max(...growth)),
      peak_rss_growth_p50_mb: round(percentile(growth, 50)),
    },
    [
      { what: 'p50 <= 400 ms', met: p50 <= 400 },
      { what: 'peak RSS growth <= 150 MB', met: Math.max(...growth) <= 150 },
    ],
  );
} finally {
  await t.close();
  await fs.rm(floorDir, { recursive: true, force: true });
}

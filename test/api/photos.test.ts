/**
 * `/api/photos` over real HTTP: uploads of every accepted format and every refused kind (with
 * nothing left on disk or in the database after a refusal), EXIF orientation, dedupe, the library
 * listing, file serving (Range, ETag), soft delete / restore, and no orphan on a failed commit.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { imagesOfEveryFormat, jpegWithExifGps, listFiles, noise, refusedFiles, upload } from '../photos/fixtures.js';

let t: TestApp;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const photoCount = async () => Number((await t.deps.database.sql`SELECT count(*)::int AS n FROM photos`)[0]!.n);

before(async () => {
  // A task queue no worker polls: a retry's workflow is started, not run.
  t = await startTestApp({ TEMPORAL_TASK_QUEUE: `test-photos-${randomUUID()}` });
});
after(async () => {
  await t?.close();
});

describe('upload: accepted formats', () => {
  test('every accepted format is stored under photos/uploaded/{day}/{id}.{ext} with a WebP thumbnail ≤ 300 px', async () => {
    for (const img of await imagesOfEveryFormat()) {
      // The client's name and Content-Type lie; the bytes decide.
      const res = await upload(t.url, img.bytes, `holiday.${img.format === 'png' ? 'jpg' : 'bin'}`, {}, 'text/plain');
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 201, `${img.format}: ${JSON.stringify(body)}`);
      assert.equal(res.headers.get('x-duplicate'), 'false');
      assert.equal(body.mime_type, img.mime, img.format);
      assert.equal(body.width, 320);
      assert.equal(body.height, 200);
      assert.equal(body.file_size, img.bytes.length);
      assert.equal(body.file_hash, sha256(img.bytes));
      assert.equal(body.filename, `${String(body.id)}.${img.ext}`);
      assert.equal(body.url, `/api/photos/${String(body.id)}/file`);

      const day = new Date().toISOString().slice(0, 10);
      const stored = await fs.readFile(path.join(t.dataDir, 'photos/uploaded', day, `${String(body.id)}.${img.ext}`));
      assert.ok(stored.equals(img.bytes), `${img.format}: original kept byte for byte`);

      const file = await fetch(`${t.url}${String(body.url)}`);
      assert.equal(file.status, 200);
      assert.equal(file.headers.get('content-type'), img.mime);
      assert.equal(file.headers.get('content-length'), String(img.bytes.length));
      assert.equal(file.headers.get('etag'), `"${sha256(img.bytes)}"`);
      assert.match(file.headers.get('cache-control') ?? '', /max-age/);
      assert.ok(Buffer.from(await file.arrayBuffer()).equals(img.bytes));

      const thumb = await fetch(`${t.url}${String(body.thumbnail_url)}`);
      assert.equal(thumb.status, 200);
      assert.equal(thumb.headers.get('content-type'), 'image/webp');
      const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
      assert.equal(meta.format, 'webp');
      assert.ok(meta.width <= 300 && meta.height <= 300, `${meta.width}×${meta.height}`);
      await fs.access(path.join(t.dataDir, 'photos/thumbnails/uploaded', day, `${String(body.id)}.webp`));
    }
  });

  test('EXIF orientation is honoured for width/height and thumbnail; the original stays byte for byte', async () => {
    const jpeg = await jpegWithExifGps();
    assert.equal((await sharp(jpeg).metadata()).width, 400, 'stored landscape');
    const res = await upload(t.url, jpeg, 'rotated.jpg');
    const body = (await res.json()) as { id: string; width: number; height: number; thumbnail_url: string; url: string };
    assert.equal(res.status, 201);
    assert.deepEqual([body.width, body.height], [200, 400]);
    const thumb = await sharp(Buffer.from(await (await fetch(t.url + body.thumbnail_url)).arrayBuffer())).metadata();
    assert.deepEqual([thumb.width, thumb.height], [150, 300]);
    const original = Buffer.from(await (await fetch(t.url + body.url)).arrayBuffer());
    assert.equal(sha256(original), sha256(jpeg));
  });

  test('the same bytes again return the existing photo (200, X-Duplicate) and store no copy; a trashed one is restored', async () => {
    const bytes = await sharp(noise(200, 150, 99), { raw: { width: 200, height: 150, channels: 3 } }).png().toBuffer();
    const first = await upload(t.url, bytes, 'a.png');
    const a = (await first.json()) as { id: string };
    assert.equal(first.status, 201);
    const before = await listFiles(t.dataDir);
    const rows = await photoCount();
    const again = await upload(t.url, bytes, 'b.png');
    const b = (await again.json()) as { id: string; duplicate: boolean };
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('x-duplicate'), 'true');
    assert.equal(b.id, a.id);
    assert.equal(b.duplicate, true);
    assert.deepEqual(await listFiles(t.dataDir), before);
    assert.equal(await photoCount(), rows);

    assert.equal((await fetch(`${t.url}/api/photos/${a.id}`, { method: 'DELETE' })).status, 204);
    const third = await upload(t.url, bytes, 'c.png');
    assert.equal(third.status, 200);
    assert.equal(((await third.json()) as { deleted_at: unknown }).deleted_at, null);
    assert.equal((await fetch(`${t.url}/api/photos/${a.id}`)).status, 200);
  });

  test('the client filename is metadata only, never a path', async () => {
    const bytes = await sharp(noise(120, 120, 5), { raw: { width: 120, height: 120, channels: 3 } }).webp().toBuffer();
    const res = await upload(t.url, bytes, '../../../etc/passwd.webp');
    const body = (await res.json()) as { id: string; filename: string; original_filename: string };
    assert.equal(res.status, 201);
    assert.equal(body.original_filename, 'passwd.webp');
    assert.equal(body.filename, `${body.id}.webp`);
    assert.ok(!(await listFiles(t.dataDir)).some((f) => f.includes('passwd')));
  });
});

describe('upload: refused files leave nothing behind', () => {
  test('each refused kind answers 400 with a reason; no file, no row', async () => {
    for (const r of await refusedFiles()) {
      const files = await listFiles(t.dataDir);
      const rows = await photoCount();
      const res = await upload(t.url, r.bytes, r.filename);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 400, `${r.kind}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, 'validation_error');
      assert.match(body.error.message, r.message, r.kind);
      assert.deepEqual(await listFiles(t.dataDir), files, `${r.kind}: files left`);
      assert.equal(await photoCount(), rows, `${r.kind}: row left`);
    }
  });

  test('a decompression bomb is refused from its header without the process growing by tens of MB', async () => {
    const { pngBomb } = await import('../photos/fixtures.js');
    const bomb = await pngBomb(60_000, 60_000);
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const res = await upload(t.url, bomb, 'bomb.png');
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /60000×60000 px/);
    const grew = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(grew < 40, `RSS grew by ${grew.toFixed(1)} MiB`);
  });

  test('missing field → 400, not multipart → 415, invalid UUID → 400, absent → 404', async () => {
    const form = new FormData();
    form.append('other', 'x');
    const missing = await fetch(`${t.url}/api/photos`, { method: 'POST', body: form });
    assert.equal(missing.status, 400);
    const json = await fetch(`${t.url}/api/photos`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(json.status, 415);
    assert.equal((await fetch(`${t.url}/api/photos/not-a-uuid`)).status, 400);
    assert.equal((await fetch(`${t.url}/api/photos/not-a-uuid/file`)).status, 400);
    assert.equal((await fetch(`${t.url}/api/photos/${randomUUID()}`)).status, 404);
    assert.equal((await fetch(`${t.url}/api/photos/${randomUUID()}`, { method: 'DELETE' })).status, 404);
  });

  test('a client that disconnects mid-upload leaves no file and no row', async () => {
    const files = await listFiles(t.dataDir);
    const rows = await photoCount();
    const bytes = await sharp(noise(600, 600, 41), { raw: { width: 600, height: 600, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    const boundary = 'AbortBoundary';
    const abort = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 0) controller.enqueue(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n`));
        if (sent >= bytes.length / 2) {
          await new Promise((r) => setTimeout(r, 100)); // let the server write what it got
          abort.abort();
          return;
        }
        controller.enqueue(bytes.subarray(sent, sent + 65536));
        sent += 65536;
      },
    });
    await assert.rejects(
      fetch(`${t.url}/api/photos`, {
        method: 'POST',
        body,
        signal: abort.signal,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        duplex: 'half',
      } as RequestInit),
    );
    for (let i = 0; i < 50 && (await listFiles(t.dataDir)).length !== files.length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await listFiles(t.dataDir), files);
    assert.equal(await photoCount(), rows);
  });

  test('a failure at COMMIT (after the files were renamed into place) leaves no file and no row', async () => {
    const { sql } = t.deps.database;
    await sql.unsafe(`
      CREATE FUNCTION fail_photo_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$;
      CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON photos DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION fail_photo_insert();`);
    try {
      const files = await listFiles(t.dataDir);
      const rows = await photoCount();
      const bytes = await sharp(noise(150, 150, 77), { raw: { width: 150, height: 150, channels: 3 } }).jpeg().toBuffer();
      const res = await upload(t.url, bytes, 'x.jpg');
      assert.equal(res.status, 500);
      assert.deepEqual(await listFiles(t.dataDir), files);
      assert.equal(await photoCount(), rows);
    } finally {
      await sql.unsafe('DROP TRIGGER fail_at_commit ON photos; DROP FUNCTION fail_photo_insert();');
    }
  });
});

describe('upload: size limit', () => {
  let small: TestApp;
  before(async () => {
    small = await startTestApp({ MAX_UPLOAD_SIZE: '100000' });
  });
  after(async () => {
    await small?.close();
  });

  const big = () => sharp(noise(400, 400, 31), { raw: { width: 400, height: 400, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();

  test('larger than MAX_UPLOAD_SIZE → 413 (declared Content-Length), nothing stored', async () => {
    const bytes = await big();
    assert.ok(bytes.length > 100_000);
    const res = await upload(small.url, bytes, 'big.png');
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'payload_too_large');
    assert.deepEqual(await listFiles(small.dataDir), []);
  });

  test('larger than MAX_UPLOAD_SIZE in a chunked body → 413 detected while streaming, nothing stored', async () => {
    const bytes = await big();
    const boundary = 'XBOUNDARYX';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const parts = [head, ...Array.from({ length: Math.ceil(bytes.length / 16384) }, (_, i) => bytes.subarray(i * 16384, (i + 1) * 16384)), tail];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = parts.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const res = await fetch(`${small.url}/api/photos`, {
      method: 'POST',
      body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    assert.deepEqual(await listFiles(small.dataDir), []);
    assert.equal(Number((await small.deps.database.sql`SELECT count(*)::int AS n FROM photos`)[0]!.n), 0);
  });
});

describe('library', () => {
  const ids: string[] = [];
  before(async () => {
    const { sql } = t.deps.database;
    const prompts = ['a red lighthouse at dusk', 'lighthouses in the storm', 'a bowl of oranges', 'portrait of a cat'];
    for (const [i, prompt] of prompts.entries()) {
      const id = randomUUID();
      ids.push(id);
      await sql`INSERT INTO photos (id, filename, width, height, file_size, mime_type, is_generated, generation_prompt, created_at, retrieval_status)
        VALUES (${id}, ${id + '.png'}, 512, 512, 1000, 'image/png', true, ${prompt}, ${new Date(Date.UTC(2001, 0, 1 + i)).toISOString()}, ${i === 3 ? 'failed' : 'pending'})`;
    }
  });

  test('full-text search over the prompt with English stemming, through the GIN index', async () => {
    const res = await fetch(`${t.url}/api/photos?q=lighthouse&generated=true`);
    const body = (await res.json()) as { items: Array<{ id: string }>; total: number };
    assert.equal(res.status, 200);
    assert.equal(body.total, 2);
    assert.deepEqual(new Set(body.items.map((p) => p.id)), new Set([ids[0], ids[1]]));
    const plan = await t.deps.database.sql.unsafe(
      `SET enable_seqscan = off; EXPLAIN SELECT id FROM photos WHERE to_tsvector('english', generation_prompt) @@ websearch_to_tsquery('english', 'lighthouse')`,
    );
    assert.match(JSON.stringify(plan), /idx_photos_generation_prompt/);
  });

  test('generated filter, sort, offset and keyset cursor pages agree', async () => {
    const all = (await (await fetch(`${t.url}/api/photos?generated=true&sort=oldest&limit=200`)).json()) as { items: Array<{ id: string }> };
    assert.deepEqual(all.items.map((p) => p.id), ids);
    const uploaded = (await (await fetch(`${t.url}/api/photos?generated=false`)).json()) as { items: Array<{ is_generated: boolean }> };
    assert.ok(uploaded.items.length > 0 && uploaded.items.every((p) => !p.is_generated));

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await fetch(`${t.url}/api/photos?generated=true&limit=3${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {
        items: Array<{ id: string; url: string; thumbnail_url: string }>;
        next_cursor: string | null;
        total: number;
      };
      assert.equal(page.total, 4);
      for (const p of page.items) {
        assert.equal(p.url, `/api/photos/${p.id}/file`);
        assert.equal(p.thumbnail_url, `/api/photos/${p.id}/thumbnail`);
      }
      seen.push(...page.items.map((p) => p.id));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [...ids].reverse());
    const second = (await (await fetch(`${t.url}/api/photos?generated=true&limit=2&offset=2`)).json()) as { items: Array<{ id: string }>; offset: number };
    assert.deepEqual(second.items.map((p) => p.id), [ids[1], ids[0]]);
    assert.equal((await fetch(`${t.url}/api/photos?cursor=garbage`)).status, 400);
    assert.equal((await fetch(`${t.url}/api/photos?limit=201`)).status, 400);
    assert.equal((await fetch(`${t.url}/api/photos?album_id=nope`)).status, 400);
  });

  test('a generated photo whose retrieval is not complete answers 409 with retrieval_status', async () => {
    const res = await fetch(`${t.url}/api/photos/${ids[0]}/file`);
    assert.equal(res.status, 409);
    const body = (await res.json()) as { error: { code: string; retrieval_status: string } };
    assert.equal(body.error.retrieval_status, 'pending');
    assert.equal((await fetch(`${t.url}/api/photos/${ids[0]}/thumbnail`)).status, 409);
  });

  test('retry: 202 for a generated photo whose retrieval failed, which starts its retrieval workflow in Temporal', async () => {
    const res = await fetch(`${t.url}/api/photos/${ids[3]}/retry`, { method: 'POST' });
    const body = (await res.json()) as { id: string; workflow_id: string };
    assert.equal(res.status, 202, JSON.stringify(body));
    assert.equal(body.id, ids[3]);
    const handle = t.deps.temporal.workflow.getHandle(body.workflow_id);
    const desc = await handle.describe();
    assert.equal(desc.type, 'photoRetrievalWorkflow');
    assert.equal(desc.status.name, 'RUNNING');
    await handle.terminate('test over');
  });

  test('retry: 400 for a photo whose retrieval did not fail', async () => {
    const res = await fetch(`${t.url}/api/photos/${ids[0]}/retry`, { method: 'POST' });
    assert.equal(res.status, 400);
    assert.equal((await fetch(`${t.url}/api/photos/${randomUUID()}/retry`, { method: 'POST' })).status, 404);
  });

  test('soft delete hides a photo; include_deleted shows it; restore brings it back', async () => {
    const id = ids[2]!;
    assert.equal((await fetch(`${t.url}/api/photos/${id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(`${t.url}/api/photos/${id}`)).status, 404);
    const listed = (await (await fetch(`${t.url}/api/photos?generated=true`)).json()) as { items: Array<{ id: string }> };
    assert.ok(!listed.items.some((p) => p.id === id));
    const withDeleted = (await (await fetch(`${t.url}/api/photos?generated=true&include_deleted=true`)).json()) as { items: Array<{ id: string; deleted_at: string | null }> };
    assert.ok(withDeleted.items.find((p) => p.id === id)?.deleted_at);
    const restored = await fetch(`${t.url}/api/photos/${id}/restore`, { method: 'POST' });
    assert.equal(restored.status, 200);
    assert.equal(((await restored.json()) as { deleted_at: unknown }).deleted_at, null);
    assert.equal((await fetch(`${t.url}/api/photos/${id}`)).status, 200);
  });
});

describe('file serving', () => {
  let url: string;
  let bytes: Buffer;
  before(async () => {
    bytes = await sharp(noise(300, 300, 55), { raw: { width: 300, height: 300, channels: 3 } }).jpeg().toBuffer();
    url = ((await (await upload(t.url, bytes, 'r.jpg')).json()) as { url: string }).url;
  });

  test('Range → 206 with Content-Range; suffix ranges; unsatisfiable → 416', async () => {
    const res = await fetch(t.url + url, { headers: { range: 'bytes=10-19' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 10-19/${bytes.length}`);
    assert.equal(res.headers.get('content-length'), '10');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(10, 20)));
    const suffix = await fetch(t.url + url, { headers: { range: 'bytes=-5' } });
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(bytes.length - 5)));
    const bad = await fetch(t.url + url, { headers: { range: `bytes=${bytes.length + 10}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), `bytes */${bytes.length}`);
  });

  test('If-None-Match with the ETag → 304', async () => {
    const first = await fetch(t.url + url);
    await first.arrayBuffer();
    const res = await fetch(t.url + url, { headers: { 'if-none-match': first.headers.get('etag')! } });
    assert.equal(res.status, 304);
  });
});

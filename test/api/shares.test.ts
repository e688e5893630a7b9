/**
 * Share links over real HTTP: metadata stripping (EXIF GPS, InvokeAI tEXt chunks, filename),
 * expiry (410), revocation (404), scope (a key opens only its photo or album), access tracking.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { readPngText } from '../doubles/invokeai/png.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { jpegWithExifGps, noise, pngWithInvokeAIText, upload } from '../photos/fixtures.js';

let t: TestApp;
type Share = { id: string; access_key: string; url: string; expires_at: string | null; last_accessed_at: string | null };

const post = (p: string, body: unknown) =>
  fetch(`${t.url}${p}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
async function share(body: unknown): Promise<Share> {
  const res = await post('/api/shares', body);
  const json = (await res.json()) as Share;
  assert.equal(res.status, 201, JSON.stringify(json));
  return json;
}
async function uploadOk(bytes: Buffer, filename: string): Promise<string> {
  const res = await upload(t.url, bytes, filename);
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}
const plainJpeg = (seed: number) => sharp(noise(160, 120, seed), { raw: { width: 160, height: 120, channels: 3 } }).jpeg().toBuffer();

before(async () => {
  t = await startTestApp();
});
after(async () => {
  await t?.close();
});

describe('what leaves through a share carries no metadata', () => {
  test('a JPEG with EXIF GPS: the shared copy has no EXIF, is upright, and no filename leaks', async () => {
    const original = await jpegWithExifGps(31);
    assert.ok((await sharp(original).metadata()).exif, 'fixture has EXIF');
    assert.ok(original.includes(Buffer.from('GPS-1')));
    const id = await uploadOk(original, 'SECRET-NAME-beach.jpg');
    const s = await share({ photo_id: id });
    assert.match(s.access_key, /^[A-Za-z0-9_-]{43,}$/, '≥ 256 bits, URL-safe');
    assert.equal(s.url, `/s/${s.access_key}`);

    const view = await fetch(t.url + s.url);
    const text = await view.text();
    assert.equal(view.status, 200);
    assert.doesNotMatch(text, /SECRET|original_filename|beach|exif|gps/i);
    const { photo } = JSON.parse(text) as { photo: { id: string; file_url: string; thumbnail_url: string; width: number; height: number } };
    assert.equal(photo.id, id);
    assert.equal(photo.file_url, `/s/${s.access_key}/photos/${id}/file`);

    const file = await fetch(t.url + photo.file_url);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'image/jpeg');
    assert.doesNotMatch(file.headers.get('content-disposition') ?? '', /SECRET|beach/);
    const bytes = Buffer.from(await file.arrayBuffer());
    const meta = await sharp(bytes).metadata();
    assert.equal(meta.exif, undefined, 'no EXIF');
    assert.equal(meta.xmp, undefined, 'no XMP');
    assert.ok(!bytes.includes(Buffer.from('Exif\0\0')) && !bytes.includes(Buffer.from('GPS-1')) && !bytes.includes(Buffer.from('TestCam')));
    assert.deepEqual([meta.width, meta.height], [200, 400], 'orientation applied to the pixels');
    assert.equal(meta.orientation, undefined);

    const thumb = Buffer.from(await (await fetch(t.url + photo.thumbnail_url)).arrayBuffer());
    assert.equal((await sharp(thumb).metadata()).exif, undefined);
  });

  test('a PNG with InvokeAI tEXt chunks: the shared copy has none; the copy is made once and cached', async () => {
    const original = await pngWithInvokeAIText();
    assert.ok(Object.keys(readPngText(original)).includes('invokeai_metadata'), 'fixture has the chunks');
    const id = await uploadOk(original, 'prompt.png');
    const s = await share({ photo_id: id, expires_in_seconds: 3600 });
    const fileUrl = `${t.url}/s/${s.access_key}/photos/${id}/file`;
    const bytes = Buffer.from(await (await fetch(fileUrl)).arrayBuffer());
    assert.deepEqual(readPngText(bytes), {});
    assert.ok(!bytes.includes(Buffer.from('SECRET')) && !bytes.includes(Buffer.from('invokeai')));

    const cached = path.join(t.dataDir, 'share-cache', `${id}.png`);
    const m1 = (await fs.stat(cached)).mtimeMs;
    const again = Buffer.from(await (await fetch(fileUrl)).arrayBuffer());
    assert.ok(again.equals(bytes));
    assert.equal((await fs.stat(cached)).mtimeMs, m1, 'served from the cache, not re-encoded');
    // The owner's API still serves the original, chunks and all.
    const own = Buffer.from(await (await fetch(`${t.url}/api/photos/${id}/file`)).arrayBuffer());
    assert.ok(own.equals(original));
  });
});

describe('share lifecycle and scope', () => {
  let a: string;
  let b: string;
  let c: string;
  let albumId: string;
  before(async () => {
    [a, b, c] = [await uploadOk(await plainJpeg(1), 'a.jpg'), await uploadOk(await plainJpeg(2), 'b.jpg'), await uploadOk(await plainJpeg(3), 'c.jpg')];
    const album = await post('/api/albums', { name: 'trip' });
    albumId = ((await album.json()) as { id: string }).id;
    assert.equal((await post(`/api/albums/${albumId}/photos`, { photo_ids: [b, a] })).status, 200);
  });

  test('input rules: exactly one target, one expiry, in the future, known ids', async () => {
    assert.equal((await post('/api/shares', { photo_id: a, album_id: albumId })).status, 400);
    assert.equal((await post('/api/shares', {})).status, 400);
    assert.equal((await post('/api/shares', { photo_id: a, expires_in_seconds: 5, expires_at: new Date(Date.now() + 1e6).toISOString() })).status, 400);
    assert.equal((await post('/api/shares', { photo_id: a, expires_at: '2001-01-01T00:00:00Z' })).status, 400);
    assert.equal((await post('/api/shares', { photo_id: a, color: 'red' })).status, 400);
    assert.equal((await post('/api/shares', { photo_id: randomUUID() })).status, 404);
    assert.equal((await post('/api/shares', { album_id: randomUUID() })).status, 404);
    const k1 = await share({ photo_id: a });
    const k2 = await share({ photo_id: a });
    assert.notEqual(k1.access_key, k2.access_key);
  });

  test('a photo key opens that photo only', async () => {
    const s = await share({ photo_id: a });
    assert.equal((await fetch(`${t.url}/s/${s.access_key}/photos/${a}/file`)).status, 200);
    assert.equal((await fetch(`${t.url}/s/${s.access_key}/photos/${b}/file`)).status, 404);
    assert.equal((await fetch(`${t.url}/s/${s.access_key}/photos/${c}/thumbnail`)).status, 404);
    assert.equal((await fetch(`${t.url}/s/${s.access_key}/photos/not-a-uuid/file`)).status, 400);
    assert.equal((await fetch(`${t.url}/s/${s.access_key}x`)).status, 404);
    assert.equal((await fetch(`${t.url}/s/${s.access_key}/photos/${a}/file`.replace('/s/', '/s/x'))).status, 404);
  });

  test('an album key shows its photos in order and opens those only; a deleted photo is not served', async () => {
    const s = await share({ album_id: albumId });
    const view = (await (await fetch(t.url + s.url)).json()) as { type: string; album: { name: string }; photos: Array<{ id: string; file_url: string }>; total: number };
    assert.equal(view.type, 'album');
    assert.equal(view.album.name, 'trip');
    assert.deepEqual(view.photos.map((p) => p.id), [b, a]);
    assert.equal(view.total, 2);
    assert.equal((await fetch(t.url + view.photos[0]!.file_url)).status, 200);
    assert.equal((await fetch(`${t.url}/s/${s.access_key}/photos/${c}/file`)).status, 404);

    assert.equal((await fetch(`${t.url}/api/photos/${b}`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(t.url + view.photos[0]!.file_url)).status, 404);
    const after = (await (await fetch(t.url + s.url)).json()) as { photos: Array<{ id: string }> };
    assert.deepEqual(after.photos.map((p) => p.id), [a]);
    assert.equal((await fetch(`${t.url}/api/photos/${b}/restore`, { method: 'POST' })).status, 200);
  });

  test('expired → 410 (view and files); revoked → 404', async () => {
    const s = await share({ photo_id: a, expires_in_seconds: 3600 });
    assert.equal((await fetch(t.url + s.url)).status, 200);
    await t.deps.database.sql`UPDATE shared_links SET expires_at = now() - interval '1 second' WHERE id = ${s.id}`;
    const gone = await fetch(t.url + s.url);
    assert.equal(gone.status, 410);
    assert.equal(((await gone.json()) as { error: { code: string } }).error.code, 'gone');
    assert.equal((await fetch(`${t.url}/s/${s.access_key}/photos/${a}/file`)).status, 410);

    const r = await share({ photo_id: a });
    assert.equal((await fetch(`${t.url}/api/shares/${r.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(t.url + r.url)).status, 404);
    assert.equal((await fetch(`${t.url}/s/${r.access_key}/photos/${a}/file`)).status, 404);
    assert.equal((await fetch(`${t.url}/api/shares/${r.id}`, { method: 'DELETE' })).status, 404);
  });

  test('each access sets last_accessed_at, shown in the list', async () => {
    const s = await share({ photo_id: c });
    assert.equal(s.last_accessed_at, null);
    await (await fetch(t.url + s.url)).arrayBuffer();
    const list = (await (await fetch(`${t.url}/api/shares`)).json()) as { items: Share[] };
    const first = list.items.find((x) => x.id === s.id)!.last_accessed_at;
    assert.ok(first);
    await new Promise((r) => setTimeout(r, 5));
    await (await fetch(`${t.url}/s/${s.access_key}/photos/${c}/thumbnail`)).arrayBuffer();
    const second = ((await (await fetch(`${t.url}/api/shares`)).json()) as { items: Share[] }).items.find((x) => x.id === s.id)!.last_accessed_at;
    assert.ok(Date.parse(second!) > Date.parse(first));
  });

  test('deleting an album deletes its links', async () => {
    const album = (await (await post('/api/albums', { name: 'short-lived' })).json()) as { id: string };
    const s = await share({ album_id: album.id });
    assert.equal((await fetch(`${t.url}/api/albums/${album.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(t.url + s.url)).status, 404);
  });
});

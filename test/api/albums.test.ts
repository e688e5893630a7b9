/**
 * `/api/albums` over real HTTP: validation, bulk add (order, skip present, all-or-nothing on
 * unknown ids), reorder, cover rules, removal, pagination, and `updated_at` moving on each change.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
type Album = { id: string; name: string; description: string | null; cover_photo_id: string | null; cover_thumbnail_url: string | null; photo_count: number; updated_at: string };

const call = (method: string, p: string, body?: unknown) =>
  fetch(`${t.url}${p}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'content-type': 'application/json' } });
const order = async (id: string, q = '') =>
  ((await (await call('GET', `/api/albums/${id}/photos${q}`)).json()) as { items: Array<{ id: string }> }).items.map((p) => p.id);
const album = async (id: string) => (await (await call('GET', `/api/albums/${id}`)).json()) as Album;

const p: string[] = [];
before(async () => {
  t = await startTestApp();
  for (let i = 0; i < 6; i++) {
    const id = randomUUID();
    p.push(id);
    await t.deps.database.sql`INSERT INTO photos (id, filename, width, height, file_size, mime_type) VALUES (${id}, ${id + '.jpg'}, 200, 200, 10, 'image/jpeg')`;
  }
});
after(async () => {
  await t?.close();
});

describe('albums', () => {
  test('name is required, trimmed, at most 200 characters; unknown fields and malformed JSON → 400', async () => {
    assert.equal((await call('POST', '/api/albums', {})).status, 400);
    assert.equal((await call('POST', '/api/albums', { name: '   ' })).status, 400);
    const long = await call('POST', '/api/albums', { name: 'x'.repeat(201) });
    assert.equal(long.status, 400);
    assert.match(((await long.json()) as { error: { message: string } }).error.message, /^name: /);
    assert.equal((await call('POST', '/api/albums', { name: 'ok', colour: 'red' })).status, 400);
    const bad = await fetch(`${t.url}/api/albums`, { method: 'POST', body: '{"name": ', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'validation_error');
    const ok = await call('POST', '/api/albums', { name: ` ${'x'.repeat(200)} `, description: 'd' });
    assert.equal(ok.status, 201);
    assert.equal(((await ok.json()) as Album).name.length, 200);
    assert.equal((await call('GET', '/api/albums/not-a-uuid')).status, 400);
    assert.equal((await call('GET', `/api/albums/${randomUUID()}`)).status, 404);
  });

  test('bulk add keeps the given order, skips present photos, refuses unknown ids adding nothing; updated_at moves on each change', async () => {
    const a = (await (await call('POST', '/api/albums', { name: 'order' })).json()) as Album;
    const stamps = [a.updated_at];
    const stamp = async () => {
      const u = (await album(a.id)).updated_at;
      assert.ok(Date.parse(u) > Date.parse(stamps[stamps.length - 1]!) || u > stamps[stamps.length - 1]!, `updated_at moved: ${u}`);
      stamps.push(u);
    };

    const r1 = await call('POST', `/api/albums/${a.id}/photos`, { photo_ids: [p[2], p[0], p[1]] });
    assert.equal(r1.status, 200);
    assert.deepEqual(((await r1.json()) as { added: string[] }).added, [p[2], p[0], p[1]]);
    assert.deepEqual(await order(a.id), [p[2], p[0], p[1]]);
    await stamp();

    const r2 = await call('POST', `/api/albums/${a.id}/photos`, { photo_ids: [p[0], p[3], p[3]] });
    assert.deepEqual(((await r2.json()) as { added: string[] }).added, [p[3]]);
    assert.deepEqual(await order(a.id), [p[2], p[0], p[1], p[3]]);
    await stamp();

    const u1 = randomUUID();
    const u2 = randomUUID();
    const r3 = await call('POST', `/api/albums/${a.id}/photos`, { photo_ids: [p[4], u1, u2] });
    assert.equal(r3.status, 400);
    const err = (await r3.json()) as { error: { message: string; unknown_photo_ids: string[] } };
    assert.deepEqual(err.error.unknown_photo_ids, [u1, u2]);
    assert.match(err.error.message, new RegExp(u1));
    assert.deepEqual(await order(a.id), [p[2], p[0], p[1], p[3]], 'nothing added');
    assert.equal((await call('POST', `/api/albums/${a.id}/photos`, { photo_ids: ['nope'] })).status, 400);
    assert.equal((await call('POST', `/api/albums/${randomUUID()}/photos`, { photo_ids: [p[0]] })).status, 404);

    // reorder: exactly the album's photos
    assert.equal((await call('PUT', `/api/albums/${a.id}/photos/order`, { photo_ids: [p[3], p[2], p[1]] })).status, 400, 'one missing');
    assert.equal((await call('PUT', `/api/albums/${a.id}/photos/order`, { photo_ids: [p[3], p[2], p[1], p[0], p[5]] })).status, 400, 'one extra');
    assert.equal((await call('PUT', `/api/albums/${a.id}/photos/order`, { photo_ids: [p[3], p[2], p[1], p[1]] })).status, 400, 'a repeat');
    assert.equal((await call('PUT', `/api/albums/${a.id}/photos/order`, { photo_ids: [p[3], p[2], p[1], p[0]] })).status, 204);
    assert.deepEqual(await order(a.id), [p[3], p[2], p[1], p[0]]);
    assert.deepEqual(await order(a.id, '?limit=2&offset=1'), [p[2], p[1]]);
    await stamp();

    // cover: must be a photo of the album
    assert.equal((await call('PATCH', `/api/albums/${a.id}`, { cover_photo_id: p[5] })).status, 400);
    const covered = await call('PATCH', `/api/albums/${a.id}`, { cover_photo_id: p[1], name: 'renamed' });
    const c = (await covered.json()) as Album;
    assert.equal(covered.status, 200);
    assert.equal(c.cover_photo_id, p[1]);
    assert.equal(c.cover_thumbnail_url, `/api/photos/${p[1]}/thumbnail`);
    assert.equal(c.name, 'renamed');
    assert.equal(c.photo_count, 4);
    await stamp();

    // remove: the cover goes with its photo
    assert.equal((await call('DELETE', `/api/albums/${a.id}/photos/${p[5]}`)).status, 404);
    assert.equal((await call('DELETE', `/api/albums/${a.id}/photos/${p[1]}`)).status, 204);
    assert.deepEqual(await order(a.id), [p[3], p[2], p[0]]);
    assert.equal((await album(a.id)).cover_photo_id, null);
    await stamp();

    assert.equal((await call('PATCH', `/api/albums/${a.id}`, { description: null })).status, 200);
    await stamp();

    // the photo library filters by album
    const lib = (await (await call('GET', `/api/photos?album_id=${a.id}`)).json()) as { items: Array<{ id: string }> };
    assert.deepEqual(new Set(lib.items.map((x) => x.id)), new Set([p[3], p[2], p[0]]));
  });

  test('a soft-deleted photo leaves the listing, reorder and the count; list and delete albums', async () => {
    const a = (await (await call('POST', '/api/albums', { name: 'trash' })).json()) as Album;
    await call('POST', `/api/albums/${a.id}/photos`, { photo_ids: [p[0], p[1], p[2]] });
    assert.equal((await call('DELETE', `/api/photos/${p[1]}`)).status, 204);
    assert.deepEqual(await order(a.id), [p[0], p[2]]);
    assert.equal((await album(a.id)).photo_count, 2);
    assert.equal((await call('PUT', `/api/albums/${a.id}/photos/order`, { photo_ids: [p[2], p[0]] })).status, 204);
    assert.equal((await call('POST', `/api/photos/${p[1]}/restore`)).status, 200);
    assert.deepEqual(await order(a.id), [p[2], p[0], p[1]], 'the restored photo comes back after the reordered ones');

    const list = (await (await call('GET', '/api/albums?limit=200')).json()) as { items: Album[]; total: number };
    assert.equal(list.items[0]!.id, a.id, 'most recently changed first');
    assert.equal(list.total, list.items.length);
    assert.equal((await call('DELETE', `/api/albums/${a.id}`)).status, 204);
    assert.equal((await call('GET', `/api/albums/${a.id}`)).status, 404);
    assert.equal((await call('DELETE', `/api/albums/${a.id}`)).status, 404);
  });
});

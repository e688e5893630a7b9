/**
 * The OpenAPI 3.1 document (valid, lists every route of the gallery API) and the docs page; the
 * security defaults: bearer token on /api/* except /api/health, public /s/*, CORS allow-list,
 * request id, malformed JSON → 400, JSON body limit → 413.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { compileErrors, validate } from '@readme/openapi-parser';
import { startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
const TOKEN = 'test-token-0123456789';
const ORIGIN = 'http://frontend.example:5173';

before(async () => {
  t = await startTestApp({ API_TOKEN: TOKEN, CORS_ORIGINS: `${ORIGIN},http://other.example` });
});
after(async () => {
  await t?.close();
});
const auth = { authorization: `Bearer ${TOKEN}` };

/** Every route of the gallery, generation and backend issues, as `METHOD /path` in OpenAPI syntax. */
const ROUTES = [
  'post /api/photos',
  'get /api/photos',
  'get /api/photos/{id}',
  'delete /api/photos/{id}',
  'get /api/photos/{id}/file',
  'get /api/photos/{id}/thumbnail',
  'post /api/photos/{id}/restore',
  'post /api/photos/{id}/retry',
  'post /api/albums',
  'get /api/albums',
  'get /api/albums/{id}',
  'patch /api/albums/{id}',
  'delete /api/albums/{id}',
  'get /api/albums/{id}/photos',
  'post /api/albums/{id}/photos',
  'delete /api/albums/{id}/photos/{photo_id}',
  'put /api/albums/{id}/photos/order',
  'post /api/shares',
  'get /api/shares',
  'delete /api/shares/{id}',
  'get /s/{access_key}',
  'get /s/{access_key}/photos/{photo_id}/file',
  'get /s/{access_key}/photos/{photo_id}/thumbnail',
  'post /api/templates',
  'get /api/templates',
  'get /api/templates/{id}',
  'patch /api/templates/{id}',
  'delete /api/templates/{id}',
  'get /api/settings',
  'patch /api/settings',
  'get /api/models',
  'post /api/models/refresh',
  'post /api/models/{key}/favorite',
  'delete /api/models/{key}/favorite',
  'get /api/models/{key}/vaes',
  'get /api/health',
  'post /api/generation/sessions',
  'get /api/generation/sessions',
  'get /api/generation/sessions/{id}',
  'patch /api/generation/sessions/{id}',
  'post /api/generation/sessions/{id}/steps',
  'get /api/generation/sessions/{id}/events',
  'get /api/generation/steps/{id}/status',
  'post /api/generation/steps/{id}/select',
  'post /api/generation/steps/{id}/retry-retrievals',
  'get /api/backend/status',
  'post /api/backend/mode',
  'post /api/backend/pod/start',
  'post /api/backend/pod/stop',
];

describe('OpenAPI', () => {
  test('/api/openapi.json is a valid OpenAPI 3.1 document listing every route', async () => {
    const res = await fetch(`${t.url}/api/openapi.json`, { headers: auth });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.equal(doc.openapi, '3.1.0');
    const result = await validate(structuredClone(doc) as never);
    assert.ok(result.valid, compileErrors(result));
    const listed = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)));
    const missing = ROUTES.filter((r) => !listed.has(r));
    assert.deepEqual(missing, []);
    // The upload is documented as multipart with a binary `file`.
    const upload = doc.paths['/api/photos']!.post as { requestBody: { content: Record<string, { schema: { properties: { file: { format: string } } } }> } };
    assert.equal(upload.requestBody.content['multipart/form-data']!.schema.properties.file.format, 'binary');
  });

  test('/api/docs serves the reference page', async () => {
    const res = await fetch(`${t.url}/api/docs`, { headers: auth });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /openapi\.json/);
  });
});

describe('security defaults', () => {
  test('bearer token on /api/* (not /api/health, not /s/*)', async () => {
    const none = await fetch(`${t.url}/api/photos`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized');
    assert.equal((await fetch(`${t.url}/api/photos`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(`${t.url}/api/photos`, { method: 'POST', body: new FormData() })).status, 401, 'uploads too');
    assert.equal((await fetch(`${t.url}/api/photos`, { headers: auth })).status, 200);
    assert.notEqual((await fetch(`${t.url}/api/health`)).status, 401);
    assert.equal((await fetch(`${t.url}/s/no-such-key`)).status, 404, 'share routes need no token');
  });

  test('CORS: the allowed origin gets the headers, another does not', async () => {
    const pre = await fetch(`${t.url}/api/photos`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    assert.ok(pre.status === 204 || pre.status === 200, String(pre.status));
    assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
    const get = await fetch(`${t.url}/api/photos`, { headers: { ...auth, origin: ORIGIN } });
    assert.equal(get.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(get.headers.get('access-control-expose-headers') ?? '', /X-Duplicate/i);
    const evil = await fetch(`${t.url}/api/photos`, { headers: { ...auth, origin: 'http://evil.example' } });
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
  });

  test('request id echoed; malformed JSON → 400; oversized JSON → 413', async () => {
    const res = await fetch(`${t.url}/api/albums`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"name": "x",' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'validation_error');
    assert.ok(res.headers.get('x-request-id'));
    const big = await fetch(`${t.url}/api/albums`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', description: 'y'.repeat(2 * 1024 * 1024) }),
    });
    assert.equal(big.status, 413);
  });
});

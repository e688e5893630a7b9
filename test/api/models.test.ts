/**
 * `/api/models` over HTTP against the InvokeAI double: refresh, list by type/base, favourites,
 * compatible VAEs (default first), and the errors when the backend cannot be read.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeInvokeAIClients } from '../../src/invokeai/client.js';
import { startInvokeAIDouble, type InvokeAIDouble } from '../doubles/invokeai/server.js';
import { DOUBLE_MODEL_KEYS as K } from '../doubles/invokeai/models.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let double: InvokeAIDouble;
const call = (method: string, p: string, body?: unknown) =>
  fetch(`${t.url}${p}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'content-type': 'application/json' } });
const keys = async (p: string) => ((await (await call('GET', p)).json()) as { items: Array<{ key: string }> }).items.map((m) => m.key);

before(async () => {
  double = await startInvokeAIDouble({ itemMs: 0 });
  t = await startTestApp();
  // The local backend URL from the settings (no INVOKEAI_LOCAL_URL override in this app).
  assert.equal((await call('PATCH', '/api/settings', { local_backend_url: double.url })).status, 200);
});
after(async () => {
  await t?.close();
  await double?.close();
  await closeInvokeAIClients();
});

describe('models', () => {
  test('refresh fills the cache; list by type and base, favourites first', async () => {
    assert.deepEqual(await keys('/api/models'), []);
    const res = await call('POST', '/api/models/refresh');
    const r = (await res.json()) as { upserted: number; default_vaes: Record<string, string> };
    assert.equal(res.status, 200, JSON.stringify(r));
    assert.ok(r.upserted >= 6);
    assert.equal(r.default_vaes.sdxl, K.sdxlVaeFp16);

    const main = await keys('/api/models?type=main');
    assert.deepEqual(new Set(main), new Set([K.sdxlMain, K.sdxlMainWithVae, K.sd1Main]));
    assert.deepEqual(new Set(await keys('/api/models')), new Set(main), 'type defaults to main');
    assert.deepEqual(await keys('/api/models?type=main&base=sd-1'), [K.sd1Main]);
    assert.deepEqual(new Set(await keys('/api/models?type=vae&base=sdxl')), new Set([K.sdxlVaeFp16, K.sdxlVae]));
    assert.equal((await call('GET', '/api/models?type=lora')).status, 400);

    const fav = await call('POST', `/api/models/${K.sd1Main}/favorite`);
    assert.equal(fav.status, 200);
    assert.equal(((await fav.json()) as { is_favorite: boolean }).is_favorite, true);
    assert.equal((await keys('/api/models?type=main'))[0], K.sd1Main);
    assert.equal((await call('POST', '/api/models/refresh')).status, 200);
    assert.equal((await keys('/api/models?type=main'))[0], K.sd1Main, 'a refresh keeps favourites');
    const unfav = await call('DELETE', `/api/models/${K.sd1Main}/favorite`);
    assert.equal(((await unfav.json()) as { is_favorite: boolean }).is_favorite, false);
    assert.equal((await call('POST', '/api/models/nope/favorite')).status, 404);
  });

  test('compatible VAEs of a model, the default first', async () => {
    assert.deepEqual(await keys(`/api/models/${K.sdxlMain}/vaes`), [K.sdxlVaeFp16, K.sdxlVae]);
    assert.deepEqual(await keys(`/api/models/${K.sdxlMainWithVae}/vaes`), [K.sdxlVaeFp16, K.sdxlVae]);
    assert.deepEqual(await keys(`/api/models/${K.sd1Main}/vaes`), [K.sd1Vae]);
    assert.equal((await call('GET', '/api/models/unknown-key/vaes')).status, 404);
  });

  test('refresh: InvokeAI unreachable → 502; remote mode without a pod → 503', async () => {
    assert.equal((await call('PATCH', '/api/settings', { local_backend_url: 'http://127.0.0.1:9' })).status, 200);
    const down = await call('POST', '/api/models/refresh');
    assert.equal(down.status, 502);
    assert.equal(((await down.json()) as { error: { code: string } }).error.code, 'invokeai_connection_error');
    assert.equal((await call('PATCH', '/api/settings', { backend_mode: 'remote', remote_backend_url: null })).status, 200);
    assert.equal((await call('POST', '/api/models/refresh')).status, 503);
    assert.equal((await keys('/api/models?type=main')).length, 3, 'the cache is kept');
  });
});

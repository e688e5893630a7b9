/**
 * `/api/settings` (validation, write-only RunPod key that never reaches a response or a log line)
 * and `/api/templates` (CRUD, category/favorite filters).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp } from '../../src/api/app.js';
import { REDACT_PATHS } from '../../src/logger.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
const call = (method: string, p: string, body?: unknown) =>
  fetch(`${t.url}${p}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'content-type': 'application/json' } });

before(async () => {
  t = await startTestApp({ MAX_BATCH_SIZE: '8' });
});
after(async () => {
  await t?.close();
});

describe('settings', () => {
  test('GET shows the seed defaults and runpod_api_key_set instead of the key', async () => {
    const res = await call('GET', '/api/settings');
    const s = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200);
    assert.equal(s.default_steps, 30);
    assert.equal(s.default_cfg_scale, 7.5);
    assert.equal(s.backend_mode, 'local');
    assert.equal((s.aspect_ratios as unknown[]).length, 3);
    assert.equal(s.runpod_api_key_set, false);
    assert.ok(!('runpod_api_key' in s));
  });

  test('PATCH validates against the columns and checks; unknown or read-only keys → 400; nothing changes on a refusal', async () => {
    const refused: Array<[unknown, RegExp]> = [
      [{ backend_mode: 'cloud' }, /^backend_mode: /],
      [{ default_steps: 0 }, /^default_steps: /],
      [{ default_steps: 12.5 }, /^default_steps: /],
      [{ default_cfg_scale: 0.5 }, /^default_cfg_scale: /],
      [{ default_scheduler: 'warp-speed' }, /^default_scheduler: /],
      [{ default_batch_size: 9 }, /^default_batch_size: /],
      [{ local_backend_url: 'ftp://x' }, /^local_backend_url: /],
      [{ aspect_ratios: [{ name: 'odd', width: 1001, height: 1024 }] }, /^aspect_ratios\.0\.width: /],
      [{ aspect_ratios: [] }, /^aspect_ratios: /],
      [{ idle_timeout_minutes: -1 }, /^idle_timeout_minutes: /],
      [{ favourite_colour: 'red' }, /favourite_colour/],
      [{ is_connected: true }, /is_connected/],
      [{ lifetime_cost: 0 }, /lifetime_cost/],
      [{ default_steps: 20, nope: 1 }, /nope/],
    ];
    for (const [body, message] of refused) {
      const res = await call('PATCH', '/api/settings', body);
      const err = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(err.error.message, message, JSON.stringify(body));
    }
    assert.equal(((await (await call('GET', '/api/settings')).json()) as { default_steps: number }).default_steps, 30);

    await t.deps.database.sql`UPDATE application_settings SET settings_json = '{"server_key": 7}'::jsonb WHERE id = 1`;
    const before = ((await (await call('GET', '/api/settings')).json()) as { updated_at: string }).updated_at;
    const res = await call('PATCH', '/api/settings', {
      default_steps: 25,
      default_cfg_scale: 6.25,
      default_scheduler: 'dpmpp_2m_k',
      default_batch_size: 8,
      backend_mode: 'remote',
      remote_backend_url: 'https://pod-9090.proxy.runpod.net',
      aspect_ratios: [{ name: 'Wide', width: 1344, height: 768 }],
      settings_json: { theme: 'dark' },
    });
    const s = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(s));
    assert.equal(s.default_steps, 25);
    assert.equal(s.default_cfg_scale, 6.25);
    assert.equal(s.backend_mode, 'remote');
    assert.deepEqual(s.aspect_ratios, [{ name: 'Wide', width: 1344, height: 768 }]);
    assert.deepEqual(s.settings_json, { server_key: 7, theme: 'dark' }, 'settings_json is merged');
    assert.ok(Date.parse(s.updated_at as string) > Date.parse(before));
  });

  test('runpod_api_key is write-only and appears in no response and no log line, even when saving fails', async () => {
    const KEY = `rpa_SECRET${randomUUID().replace(/-/g, '')}`;
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
    const app = createApp({ ...t.deps, logger });
    const req = (method: string, body?: unknown) =>
      app.request('/api/settings', { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });

    const set = await req('PATCH', { runpod_api_key: KEY });
    const setText = await set.text();
    assert.equal(set.status, 200);
    assert.ok(!setText.includes(KEY));
    assert.equal((JSON.parse(setText) as { runpod_api_key_set: boolean }).runpod_api_key_set, true);
    assert.ok(!(await (await req('GET')).text()).includes(KEY));
    const [row] = await t.deps.database.sql`SELECT runpod_api_key FROM application_settings WHERE id = 1`;
    assert.equal(row!.runpod_api_key, KEY, 'stored');

    // A database failure while saving: the error is logged, the key is not.
    const { sql } = t.deps.database;
    await sql.unsafe(`CREATE FUNCTION no_settings() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$;
      CREATE TRIGGER no_settings BEFORE UPDATE ON application_settings FOR EACH ROW EXECUTE FUNCTION no_settings();`);
    try {
      const failed = await req('PATCH', { runpod_api_key: `${KEY}-2` });
      assert.equal(failed.status, 500);
      assert.ok(!(await failed.text()).includes(KEY));
    } finally {
      await sql.unsafe('DROP TRIGGER no_settings ON application_settings; DROP FUNCTION no_settings();');
    }
    // A refused value is not echoed either.
    const bad = await req('PATCH', { runpod_api_key: KEY.repeat(20) });
    assert.equal(bad.status, 400);
    assert.ok(!(await bad.text()).includes(KEY));

    assert.ok(lines.length >= 4, 'requests were logged');
    assert.ok(lines.some((l) => l.includes('could not save the settings')), 'the failure was logged');
    for (const l of lines) assert.ok(!l.includes(KEY), `log line leaks the key: ${l}`);

    const cleared = await req('PATCH', { runpod_api_key: null });
    assert.equal(((await cleared.json()) as { runpod_api_key_set: boolean }).runpod_api_key_set, false);
  });
});

describe('templates', () => {
  test('CRUD with category and favorite filters', async () => {
    const mk = async (body: Record<string, unknown>) => {
      const res = await call('POST', '/api/templates', body);
      const json = (await res.json()) as { id: string; is_favorite: boolean; updated_at: string };
      assert.equal(res.status, 201, JSON.stringify(json));
      return json;
    };
    const a = await mk({ name: 'Portrait', prompt_text: 'a portrait of {subject}', category: 'people', is_favorite: true });
    const b = await mk({ name: 'Landscape', prompt_text: 'mountains at dawn', negative_prompt: 'people', category: 'nature' });
    const c = await mk({ name: 'Crowd', prompt_text: 'a busy street', category: 'people' });
    assert.equal(b.is_favorite, false);

    assert.equal((await call('POST', '/api/templates', { name: 'x' })).status, 400, 'prompt_text required');
    assert.equal((await call('POST', '/api/templates', { prompt_text: 'x' })).status, 400, 'name required');
    assert.equal((await call('POST', '/api/templates', { name: 'x', prompt_text: 'y', tags: [] })).status, 400, 'unknown field');

    const ids = async (q: string) => ((await (await call('GET', `/api/templates${q}`)).json()) as { items: Array<{ id: string }> }).items.map((x) => x.id);
    assert.deepEqual(await ids(''), [a.id, c.id, b.id], 'favourites first, then by name');
    assert.deepEqual(await ids('?category=people'), [a.id, c.id]);
    assert.deepEqual(await ids('?favorite=true'), [a.id]);
    assert.deepEqual(await ids('?favorite=false&category=people'), [c.id]);
    assert.equal((await call('GET', '/api/templates?favorite=maybe')).status, 400);

    const patched = await call('PATCH', `/api/templates/${c.id}`, { is_favorite: true, category: null });
    const pj = (await patched.json()) as { is_favorite: boolean; category: string | null; prompt_text: string; updated_at: string };
    assert.equal(patched.status, 200);
    assert.deepEqual([pj.is_favorite, pj.category, pj.prompt_text], [true, null, 'a busy street']);
    assert.ok(Date.parse(pj.updated_at) > Date.parse(c.updated_at));
    assert.equal((await call('GET', `/api/templates/${c.id}`)).status, 200);
    assert.equal((await call('DELETE', `/api/templates/${c.id}`)).status, 204);
    assert.equal((await call('GET', `/api/templates/${c.id}`)).status, 404);
    assert.equal((await call('PATCH', `/api/templates/${c.id}`, { name: 'z' })).status, 404);
    assert.equal((await call('GET', '/api/templates/123')).status, 400);
  });
});

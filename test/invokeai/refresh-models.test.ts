/**
 * refreshModels() against the double and a real PostgreSQL: idempotent, favourites survive,
 * one default VAE per base, models that disappear are marked missing and come back.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { models } from '../../src/db/schema.js';
import { createInvokeAIClient, type InvokeAIClient } from '../../src/invokeai/client.js';
import { refreshModels } from '../../src/models/refresh.js';
import { compatibleVaes, defaultVaeForModel, getModel, listModels } from '../../src/models/queries.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startInvokeAIDouble, type InvokeAIDouble } from '../doubles/invokeai/server.js';
import { DOUBLE_MODEL_KEYS as K, defaultDoubleModels } from '../doubles/invokeai/models.js';

let tdb: TestDatabase;
let double: InvokeAIDouble;
let client: InvokeAIClient;

before(async () => {
  [tdb, double] = await Promise.all([createTestDatabase(), startInvokeAIDouble({ itemMs: 0 })]);
  client = createInvokeAIClient({ baseUrl: double.url });
});
after(async () => {
  await client.close();
  await double.close();
  await tdb.drop();
});

const rows = async () =>
  (await tdb.database.db.select().from(models).orderBy(models.key)).map(({ cachedAt: _c, ...rest }) => rest);

describe('refreshModels', () => {
  test('upserts every model with its defaults; VAEs get compatible_with_base; one default VAE per base', async () => {
    const r = await refreshModels(tdb.database.db, client);
    assert.equal(r.upserted, defaultDoubleModels().length);
    assert.equal(r.missing, 0);
    assert.deepEqual(r.defaultVaes, { sdxl: K.sdxlVaeFp16, 'sd-1': K.sd1Vae });

    const db = tdb.database.db;
    const sdxl = (await getModel(db, K.sdxlMain))!;
    assert.equal(sdxl.hash, defaultDoubleModels()[0]!.hash);
    assert.deepEqual(
      [sdxl.defaultWidth, sdxl.defaultHeight, sdxl.defaultSteps, sdxl.defaultCfgScale, sdxl.defaultScheduler, sdxl.defaultVaeKey],
      [1024, 1024, 30, 6, 'dpmpp_2m_sde_k', null],
    );
    assert.equal((await getModel(db, K.sdxlMainWithVae))!.defaultVaeKey, K.sdxlVaeFp16);
    assert.equal((await getModel(db, K.sdxlLora))!.defaultSteps, null, 'LoRA default_settings are not main settings');
    assert.equal((await getModel(db, K.sd1Vae))!.compatibleWithBase, 'sd-1');
    assert.equal((await getModel(db, K.sdxlMain))!.compatibleWithBase, null);

    const all = await rows();
    for (const base of ['sdxl', 'sd-1']) {
      assert.equal(all.filter((m) => m.type === 'vae' && m.base === base && m.isDefaultVae).length, 1, base);
    }
    const vaes = await compatibleVaes(db, 'sdxl');
    assert.deepEqual(vaes.map((v) => v.key), [K.sdxlVaeFp16, K.sdxlVae], 'default first');
    assert.equal((await defaultVaeForModel(db, (await getModel(db, K.sdxlMainWithVae))!))?.key, K.sdxlVaeFp16);
    assert.equal(await defaultVaeForModel(db, sdxl), undefined, 'no default VAE → the loader’s own');
  });

  test('a second run gives the same rows; favourites and last_used_at survive', async () => {
    const db = tdb.database.db;
    const usedAt = new Date('2026-01-02T03:04:05Z');
    await db.update(models).set({ isFavorite: true, lastUsedAt: usedAt }).where(eq(models.key, K.sd1Main));
    const before = await rows();
    const r = await refreshModels(db, client);
    assert.equal(r.missing, 0);
    assert.deepEqual(await rows(), before);
    const sd1 = (await getModel(db, K.sd1Main))!;
    assert.equal(sd1.isFavorite, true);
    assert.equal(sd1.lastUsedAt?.toISOString(), usedAt.toISOString());
    assert.equal((await listModels(db, { type: 'main' }))[0]!.key, K.sd1Main, 'favourites first');
  });

  test('a removed model is marked missing (kept), and cleared when it returns', async () => {
    const db = tdb.database.db;
    // The fp16 VAE disappears: the other sdxl VAE becomes the default.
    double.admin.setModels(defaultDoubleModels().filter((m) => m.key !== K.sdxlVaeFp16));
    const r = await refreshModels(db, client);
    assert.equal(r.missing, 1);
    assert.equal(r.defaultVaes.sdxl, K.sdxlVae);
    const gone = (await getModel(db, K.sdxlVaeFp16))!;
    assert.ok(gone.missingAt instanceof Date);
    assert.equal(gone.isDefaultVae, false);
    assert.equal((await getModel(db, K.sdxlVae))!.isDefaultVae, true);
    assert.ok(!(await listModels(db, { type: 'vae', base: 'sdxl' })).some((m) => m.key === K.sdxlVaeFp16));
    assert.ok((await listModels(db, { type: 'vae', includeMissing: true })).some((m) => m.key === K.sdxlVaeFp16));
    assert.equal(await defaultVaeForModel(db, (await getModel(db, K.sdxlMainWithVae))!), undefined);
    assert.equal((await refreshModels(db, client)).missing, 0, 'already marked');

    double.admin.setModels(defaultDoubleModels());
    const back = await refreshModels(db, client);
    assert.equal(back.returned, 1);
    assert.equal((await getModel(db, K.sdxlVaeFp16))!.missingAt, null);
    assert.equal((await getModel(db, K.sdxlVaeFp16))!.isDefaultVae, true);
    assert.equal((await getModel(db, K.sdxlVae))!.isDefaultVae, false);
  });
});

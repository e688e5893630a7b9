/**
 * The maintenance jobs' effects on real rows (a fresh PostgreSQL database) and real files (a
 * temporary DATA_DIR): share link expiry, the trash purge (and its referenced-photo rule), storage
 * reconciliation (quarantine, missing files), the choice of retrievals to retry, the model refresh
 * that waits for InvokeAI.
 */
import { after, afterEach, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { applicationSettings } from '../../src/db/schema.js';
import { variantPaths } from '../../src/generation/paths.js';
import { refreshModelCache } from '../../src/maintenance/models.js';
import { findRetryableRetrievals } from '../../src/maintenance/retrievals.js';
import { expireShareLinks } from '../../src/maintenance/share-links.js';
import { reconcileStorage } from '../../src/maintenance/storage.js';
import { purgeTrash } from '../../src/maintenance/trash.js';
import { photoPaths } from '../../src/storage/files.js';
import { startInvokeAIDouble } from '../doubles/invokeai/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let t: TestDatabase;
let dataDir: string;
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY);

before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t?.drop();
});
beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pg-maint-'));
  await t.database.sql`TRUNCATE photos, shared_links, albums, generation_sessions, generation_steps, step_alternatives CASCADE`;
  await t.database.sql`INSERT INTO application_settings (id) VALUES (1) ON CONFLICT DO NOTHING`;
  await t.database.db.update(applicationSettings).set({ settingsJson: {}, maxRetrievalAttempts: 5 }).where(eq(applicationSettings.id, 1));
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function exists(rel: string): Promise<boolean> {
  return fs.stat(path.join(dataDir, rel)).then(() => true, () => false);
}
async function writeRel(rel: string, data = 'x'): Promise<void> {
  await fs.mkdir(path.dirname(path.join(dataDir, rel)), { recursive: true });
  await fs.writeFile(path.join(dataDir, rel), data);
}
/** Sets a file's mtime `ms` in the past (reconciliation leaves young files alone). */
async function age(rel: string, ms = 3_600_000): Promise<void> {
  const when = new Date(Date.now() - ms);
  await fs.utimes(path.join(dataDir, rel), when, when);
}

/** An uploaded photo with its two files; `deletedAt` puts it in the trash. */
async function uploaded(opts: { deletedAt?: Date; files?: boolean } = {}) {
  const id = randomUUID();
  const p = photoPaths({ kind: 'uploaded', id, ext: 'jpg', date: new Date() });
  await t.database.sql`INSERT INTO photos (id, filename, width, height, file_size, mime_type, local_storage_path, local_thumbnail_path, deleted_at, retrieval_status)
    VALUES (${id}, ${id + '.jpg'}, 100, 100, 1, 'image/jpeg', ${p.file}, ${p.thumbnail}, ${opts.deletedAt?.toISOString() ?? null}, 'completed')`;
  if (opts.files !== false) {
    await writeRel(p.file);
    await writeRel(p.thumbnail);
  }
  return { id, ...p };
}

/** A generated photo, alternative of a step (selected when `selected`), with its files. */
async function generated(opts: { deletedAt?: Date; selected?: boolean; status?: string; attempts?: number; invokeId?: string | null } = {}) {
  const sessionId = randomUUID();
  const stepId = randomUUID();
  const id = randomUUID();
  const { sql } = t.database;
  await sql`INSERT INTO generation_sessions (id, entry_type) VALUES (${sessionId}, 'scratch')`;
  await sql`INSERT INTO generation_steps (id, session_id, prompt, parameters, model_key, model_hash, batch_id, position)
    VALUES (${stepId}, ${sessionId}, 'a lighthouse', '{}'::jsonb, 'm', 'h', ${randomUUID()}, 1)`;
  const p = variantPaths(sessionId, stepId, id);
  const status = opts.status ?? 'completed';
  const done = status === 'completed';
  await sql`INSERT INTO photos (id, filename, width, height, file_size, mime_type, is_generated, invoke_id, local_storage_path, local_thumbnail_path, deleted_at, retrieval_status, retrieval_attempts)
    VALUES (${id}, ${id + '.png'}, 64, 64, 1, 'image/png', true, ${opts.invokeId === undefined ? `${id}.png` : opts.invokeId},
      ${done ? p.file : null}, ${done ? p.thumbnail : null}, ${opts.deletedAt?.toISOString() ?? null}, ${status}, ${opts.attempts ?? 1})`;
  await sql`INSERT INTO step_alternatives (step_id, image_id, selected) VALUES (${stepId}, ${id}, ${opts.selected ?? false})`;
  if (opts.selected) await sql`UPDATE generation_steps SET selected_image_id = ${id} WHERE id = ${stepId}`;
  const selectedCopy = `photos/generated/sessions/${sessionId}/${stepId}/selected/${id}.png`;
  const completedCopy = `photos/generated/completed/2025-01-31/${id}.png`;
  if (done) {
    await writeRel(p.file);
    await writeRel(p.thumbnail);
    if (opts.selected) {
      await writeRel(selectedCopy);
      await writeRel(completedCopy);
    }
  }
  return { id, sessionId, stepId, selectedCopy, completedCopy, ...p };
}

const row = async (id: string) => (await t.database.sql`SELECT * FROM photos WHERE id = ${id}`)[0];

test('expire share links: deleted only when expired longer than the retention (settings_json)', async () => {
  const photo = await uploaded();
  const link = (expiresAt: Date | null) =>
    t.database.sql`INSERT INTO shared_links (photo_id, access_key, expires_at) VALUES (${photo.id}, ${randomUUID()}, ${expiresAt?.toISOString() ?? null}) RETURNING id`.then((r) => r[0]!.id as string);
  const old = await link(ago(31));
  const recent = await link(ago(29));
  const never = await link(null);
  const future = await link(new Date(Date.now() + DAY));

  assert.deepEqual(await expireShareLinks(t.database.db), { deleted: 1, retentionDays: 30 });
  let left = (await t.database.sql`SELECT id FROM shared_links`).map((r) => r.id as string).sort();
  assert.deepEqual(left, [recent, never, future].sort());
  assert.ok(!left.includes(old));

  await t.database.db.update(applicationSettings).set({ settingsJson: { share_link_retention_days: 7 } }).where(eq(applicationSettings.id, 1));
  assert.deepEqual(await expireShareLinks(t.database.db), { deleted: 1, retentionDays: 7 });
  left = (await t.database.sql`SELECT id FROM shared_links`).map((r) => r.id as string).sort();
  assert.deepEqual(left, [never, future].sort());
  assert.equal((await expireShareLinks(t.database.db)).deleted, 0, 'idempotent');
});

test('purge the trash: old trash loses files and rows; referenced photos keep a purged row; the rest is untouched', async () => {
  const oldUpload = await uploaded({ deletedAt: ago(40) });
  const recentTrash = await uploaded({ deletedAt: ago(10) });
  const live = await uploaded();
  const alternative = await generated({ deletedAt: ago(40) });
  const selected = await generated({ deletedAt: ago(40), selected: true });
  const { sql } = t.database;
  // Things that point at the old upload and must not stop its purge: a share link, an album (as member and cover).
  await sql`INSERT INTO shared_links (photo_id, access_key) VALUES (${oldUpload.id}, 'k-old')`;
  const [album] = await sql`INSERT INTO albums (name, cover_photo_id) VALUES ('a', ${oldUpload.id}) RETURNING id`;
  await sql`INSERT INTO album_photos (album_id, photo_id) VALUES (${album!.id}, ${oldUpload.id})`;
  await writeRel(`share-cache/${oldUpload.id}.jpg`);

  const result = await purgeTrash(t.database.db, dataDir);
  assert.deepEqual(result, { deleted: 1, kept: 2, filesRemoved: 2 + 2 + 4, retentionDays: 30 });

  assert.equal(await row(oldUpload.id), undefined, 'unreferenced row deleted');
  assert.equal(await exists(oldUpload.file), false);
  assert.equal(await exists(oldUpload.thumbnail), false);
  assert.equal(await exists(`share-cache/${oldUpload.id}.jpg`), false);
  assert.equal((await sql`SELECT count(*)::int AS n FROM shared_links`)[0]!.n, 0);
  assert.equal((await sql`SELECT cover_photo_id FROM albums`)[0]!.cover_photo_id, null);

  for (const g of [alternative, selected]) {
    const r = await row(g.id);
    assert.ok(r, 'a photo referenced by a generation step keeps its row');
    assert.ok(r.purged_at !== null && !Number.isNaN(new Date(r.purged_at).getTime()), 'marked purged_at');
    assert.equal(r.local_storage_path, null);
    assert.equal(await exists(g.file), false);
    assert.equal(await exists(g.thumbnail), false);
  }
  assert.equal(await exists(selected.selectedCopy), false, 'the selected/ copy is removed');
  assert.equal(await exists(selected.completedCopy), false, 'the completed/ copy is removed');
  assert.equal((await sql`SELECT count(*)::int AS n FROM step_alternatives`)[0]!.n, 2, 'step history intact');

  for (const p of [recentTrash, live]) {
    assert.ok(await row(p.id));
    assert.equal((await row(p.id))!.purged_at, null);
    assert.ok(await exists(p.file));
  }
  assert.deepEqual(await purgeTrash(t.database.db, dataDir), { deleted: 0, kept: 0, filesRemoved: 0, retentionDays: 30 }, 'idempotent');

  await t.database.db.update(applicationSettings).set({ settingsJson: { trash_retention_days: 5 } }).where(eq(applicationSettings.id, 1));
  assert.equal((await purgeTrash(t.database.db, dataDir)).deleted, 1, 'a shorter retention takes the 10-day-old trash');
  assert.equal(await row(recentTrash.id), undefined);
});

test('purge the trash: a purge cut short after the claim is finished by the next run', async () => {
  const p = await uploaded({ deletedAt: ago(40) });
  await t.database.sql`UPDATE photos SET purged_at = now() WHERE id = ${p.id}`; // claimed, then the worker died
  const result = await purgeTrash(t.database.db, dataDir);
  assert.equal(result.deleted, 1);
  assert.equal(await row(p.id), undefined);
  assert.equal(await exists(p.file), false);
});

test('reconcile storage: orphan files quarantined under the same path, missing files fail their row', async () => {
  const ok = await uploaded();
  const gen = await generated({ selected: true });
  const lostUpload = await uploaded({ files: false });
  const lostGen = await generated({ attempts: 3 });
  await fs.rm(path.join(dataDir, lostGen.file));
  const orphan = `photos/uploaded/2025-01-01/${randomUUID()}.jpg`;
  const strange = 'photos/uploaded/2025-01-01/notes.txt';
  const young = `photos/uploaded/2025-01-01/${randomUUID()}.jpg`;
  const oldTmp = `photos/uploaded/2025-01-01/.x.jpg.abc.tmp`;
  for (const f of [orphan, strange, young, oldTmp]) await writeRel(f, f);
  for (const f of [orphan, strange, oldTmp, ok.file, gen.file]) await age(f, 2 * 3_600_000);

  const result = await reconcileStorage(t.database.db, dataDir);
  assert.deepEqual(result, {
    filesScanned: 2 + 4 + 1 + 3, // ok (2), gen (4: variant, thumb, selected, completed), lostGen thumb, orphan + strange + young
    quarantined: 2,
    rowsChecked: 4,
    missingFiles: 2,
    retryable: 1,
    tempFilesRemoved: 1,
  });
  for (const f of [orphan, strange]) {
    assert.equal(await exists(f), false);
    assert.equal(await fs.readFile(path.join(dataDir, 'quarantine', f), 'utf8'), f, 'moved, same relative path, same bytes');
  }
  assert.ok(await exists(young), 'a file younger than the grace period may be an upload about to commit');
  for (const f of [ok.file, ok.thumbnail, gen.file, gen.thumbnail, gen.selectedCopy, gen.completedCopy]) assert.ok(await exists(f), f);

  const lu = await row(lostUpload.id);
  assert.equal(lu!.retrieval_status, 'failed');
  assert.match(lu!.retrieval_error, /file missing/);
  const lg = await row(lostGen.id);
  assert.equal(lg!.retrieval_status, 'failed');
  assert.equal(lg!.retrieval_attempts, 0, 'a fresh round of attempts for the retry schedule');
  assert.deepEqual(await findRetryableRetrievals(t.database.db), [lostGen.id], 'the retry schedule takes it');

  const again = await reconcileStorage(t.database.db, dataDir);
  assert.equal(again.quarantined, 0);
  assert.equal(again.missingFiles, 0, 'idempotent');
});

test('retrievals to retry: failed with attempts left and an image name; never pending, processing, trashed', async () => {
  const retry = await generated({ status: 'failed', attempts: 2 });
  await generated({ status: 'failed', attempts: 5 }); // out of attempts
  await generated({ status: 'failed', attempts: 0, invokeId: null }); // nothing to fetch
  await generated({ status: 'processing', attempts: 1 }); // a step is retrieving it right now
  await generated({ status: 'pending', attempts: 1 }); // between two attempts of a step
  await generated({ status: 'failed', attempts: 1, deletedAt: ago(1) }); // in the trash
  assert.deepEqual(await findRetryableRetrievals(t.database.db), [retry.id]);
  await t.database.db.update(applicationSettings).set({ maxRetrievalAttempts: 2 }).where(eq(applicationSettings.id, 1));
  assert.deepEqual(await findRetryableRetrievals(t.database.db), [], 'max_retrieval_attempts from the settings');
});

test('refresh the model cache: skipped while InvokeAI does not answer, done when it does', async () => {
  const down = await refreshModelCache(t.database.db, { INVOKEAI_LOCAL_URL: 'http://127.0.0.1:9' });
  assert.equal(down.refreshed, false);
  const double = await startInvokeAIDouble({ itemMs: 0 });
  try {
    const up = await refreshModelCache(t.database.db, { INVOKEAI_LOCAL_URL: double.url });
    assert.equal(up.refreshed, true);
    assert.ok(up.refreshed && up.upserted > 0);
    const [{ n }] = (await t.database.sql`SELECT count(*)::int AS n FROM models`) as unknown as [{ n: number }];
    assert.equal(n, up.refreshed ? up.upserted : -1);
  } finally {
    await double.close();
  }
});

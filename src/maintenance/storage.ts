/**
 * Reconciling the file store with the catalog:
 * - a file under `DATA_DIR/photos` that belongs to no photo row is moved to `DATA_DIR/quarantine/`
 *   under the same relative path (nothing is deleted: a person decides). A file belongs to a row
 *   when its name is `<photo id>.<ext>` of a row not purged — originals, thumbnails and the
 *   `selected/`/`completed/` copies of a selection are all named that way;
 * - a `completed` photo whose original is missing becomes `retrieval_status = 'failed'` with an
 *   error; a generated one gets a fresh round of attempts (`retrieval_attempts = 0`), so the
 *   failed-retrieval schedule fetches it again from InvokeAI;
 * - temporary files left by a crash (`*.tmp`, older than an hour) are removed.
 * Files younger than `graceMs` are left alone: an upload renames its file into place a moment
 * before its row commits.
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, asc, eq, gt, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { photos } from '../db/schema.js';
import { resolveDataPath, sweepTempFiles } from '../storage/files.js';

/** What `reconcileStorage` found and did. */
export interface ReconcileStorageResult {
  /** files looked at under `photos/` */
  filesScanned: number;
  /** files without a row, moved to `quarantine/` */
  quarantined: number;
  /** `completed` rows checked */
  rowsChecked: number;
  /** `completed` rows whose original was missing, now `failed` */
  missingFiles: number;
  /** of those, generated photos the retry schedule will fetch again */
  retryable: number;
  /** crash leftovers (`*.tmp`) removed */
  tempFilesRemoved: number;
}

/** Rows (and file names) looked up per query. */
const CHUNK = 1000;
const UUID_NAME = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[a-z0-9]+$/i;

/**
 * Reconciles `dataDir` with the photo rows (see the module comment). Idempotent.
 * @param options.graceMs files modified less than this long ago are not quarantined (default 10 min)
 * @param options.onProgress called every chunk (the activity heartbeats there)
 * @throws the database or filesystem error
 */
export async function reconcileStorage(
  db: Db,
  dataDir: string,
  options: { graceMs?: number; now?: Date; onProgress?: () => void } = {},
): Promise<ReconcileStorageResult> {
  const result: ReconcileStorageResult = { filesScanned: 0, quarantined: 0, rowsChecked: 0, missingFiles: 0, retryable: 0, tempFilesRemoved: 0 };
  const youngerThan = (options.now ?? new Date()).getTime() - (options.graceMs ?? 10 * 60_000);
  result.tempFilesRemoved = await sweepTempFiles(dataDir);

  // Files without a row.
  let pending: Array<{ rel: string; id: string | undefined }> = [];
  const flush = async () => {
    const ids = [...new Set(pending.map((f) => f.id).filter((id): id is string => Boolean(id)))];
    const known = new Set<string>();
    if (ids.length > 0) {
      const rows = await db.select({ id: photos.id }).from(photos).where(and(inArray(photos.id, ids), isNull(photos.purgedAt)));
      for (const r of rows) known.add(r.id);
    }
    for (const f of pending) {
      if (f.id && known.has(f.id)) continue;
      const abs = resolveDataPath(dataDir, f.rel);
      const st = await fs.stat(abs).catch(() => undefined);
      if (!st || st.mtimeMs > youngerThan) continue;
      await quarantine(dataDir, f.rel);
      result.quarantined++;
    }
    pending = [];
    options.onProgress?.();
  };
  for await (const rel of walkFiles(dataDir, 'photos')) {
    if (rel.endsWith('.tmp')) continue;
    result.filesScanned++;
    pending.push({ rel, id: UUID_NAME.exec(path.basename(rel))?.[1]?.toLowerCase() });
    if (pending.length >= CHUNK) await flush();
  }
  await flush();

  // Rows without their file.
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const rows = await db
      .select({ id: photos.id, path: photos.localStoragePath, invokeId: photos.invokeId })
      .from(photos)
      .where(and(eq(photos.retrievalStatus, 'completed'), isNotNull(photos.localStoragePath), isNull(photos.purgedAt), gt(photos.id, after)))
      .orderBy(asc(photos.id))
      .limit(CHUNK);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    result.rowsChecked += rows.length;
    const present = await Promise.all(rows.map((r) => fs.stat(resolveDataPath(dataDir, r.path!)).then((s) => s.isFile(), () => false)));
    const missing = rows.filter((_, i) => !present[i]);
    for (const r of missing) {
      const updated = await db
        .update(photos)
        .set({
          retrievalStatus: 'failed',
          retrievalError: `file missing from storage: ${r.path}`,
          ...(r.invokeId ? { retrievalAttempts: 0 } : {}),
        })
        .where(and(eq(photos.id, r.id), eq(photos.retrievalStatus, 'completed'), sql`${photos.localStoragePath} = ${r.path}`))
        .returning({ id: photos.id });
      if (updated.length === 0) continue; // changed meanwhile (purged, retrieved again)
      result.missingFiles++;
      if (r.invokeId) result.retryable++;
    }
    options.onProgress?.();
  }
  return result;
}

/** Moves `rel` (relative to DATA_DIR) to `quarantine/<rel>`; a name already taken gets a suffix. */
async function quarantine(dataDir: string, rel: string): Promise<void> {
  let target = resolveDataPath(dataDir, path.join('quarantine', rel));
  await fs.mkdir(path.dirname(target), { recursive: true });
  for (let n = 1; await fs.stat(target).then(() => true, () => false); n++) {
    target = resolveDataPath(dataDir, path.join('quarantine', `${rel}.${n}`));
  }
  await fs.rename(resolveDataPath(dataDir, rel), target);
}

/** Every regular file under `dataDir/top`, as paths relative to `dataDir` (depth first, streaming). */
async function* walkFiles(dataDir: string, top: string): AsyncGenerator<string> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(resolveDataPath(dataDir, top), { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const rel = path.join(top, e.name);
    if (e.isDirectory()) yield* walkFiles(dataDir, rel);
    else if (e.isFile()) yield rel;
  }
}

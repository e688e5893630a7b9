/**
 * Purging the trash: photos soft-deleted (`deleted_at`) longer than the retention
 * (`settings_json.trash_retention_days`, default 30 days) lose their files — original, thumbnail,
 * share copy, and for generated photos their `selected/` and `completed/` copies — and their row.
 * A photo something still points at keeps its row, marked `purged_at` with its paths cleared:
 * an alternative or the selection of a generation step, the source of a refinement session or of
 * another photo (deleting those rows would break the session history, and the foreign keys).
 *
 * Each photo is first claimed (`purged_at` set, so a restore is refused from then on), then its
 * files are removed, then the row is deleted or cleared; a purge cut short is finished by the next
 * run, which picks up claimed rows whose paths are still set.
 */
import fs from 'node:fs/promises';
import { and, eq, isNotNull, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { albums, photos, sharedLinks } from '../db/schema.js';
import { selectionPaths } from '../generation/paths.js';
import { getSettings } from '../settings/service.js';
import { removeSharedCopy } from '../shares/service.js';
import { removeFile, resolveDataPath } from '../storage/files.js';
import { cutoff, retentionDays } from './retention.js';

/** What `purgeTrash` did. */
export interface PurgeTrashResult {
  /** rows deleted with their files */
  deleted: number;
  /** rows kept (still referenced), files removed, `purged_at` set */
  kept: number;
  /** files removed (originals, thumbnails, copies) */
  filesRemoved: number;
  /** the retention applied, days after `deleted_at` */
  retentionDays: number;
}

/** Photos claimed per round. */
const BATCH = 200;

/** SQL: photo `id` is pointed at by a generation step, a session or another photo. */
const referenced = (id: SQL) => sql`(
  EXISTS (SELECT 1 FROM step_alternatives a WHERE a.image_id = ${id})
  OR EXISTS (SELECT 1 FROM generation_steps s WHERE s.selected_image_id = ${id})
  OR EXISTS (SELECT 1 FROM generation_sessions g WHERE g.source_image_id = ${id})
  OR EXISTS (SELECT 1 FROM photos c WHERE c.source_image_id = ${id}))`;

/**
 * Purges the photos in the trash for longer than the retention (see the module comment).
 * Idempotent; safe to run while the API serves (a photo restored before it is claimed is left alone).
 * @param options.now the clock (tests move it)
 * @param options.onProgress called after each batch (the activity heartbeats there)
 * @throws the database or filesystem error (the next run finishes what this one claimed)
 */
export async function purgeTrash(
  db: Db,
  dataDir: string,
  options: { now?: Date; onProgress?: () => void } = {},
): Promise<PurgeTrashResult> {
  const days = retentionDays(await getSettings(db), 'trash_retention_days');
  const before = cutoff(options.now ?? new Date(), days);
  const result: PurgeTrashResult = { deleted: 0, kept: 0, filesRemoved: 0, retentionDays: days };
  const completedDays = await completedDayFolders(dataDir);

  for (;;) {
    let batch = await db
      .select()
      .from(photos)
      .where(and(isNotNull(photos.purgedAt), isNotNull(photos.deletedAt), or(isNotNull(photos.localStoragePath), isNotNull(photos.localThumbnailPath))))
      .limit(BATCH);
    if (batch.length === 0) {
      batch = await db
        .update(photos)
        .set({ purgedAt: sql`CURRENT_TIMESTAMP` })
        .where(
          sql`${photos.id} IN (SELECT id FROM photos WHERE deleted_at < ${before.toISOString()}::timestamptz AND purged_at IS NULL
                ORDER BY deleted_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)`,
        )
        .returning();
    }
    if (batch.length === 0) return result;

    for (const photo of batch) {
      result.filesRemoved += await removePhotoFiles(db, dataDir, photo, completedDays);
      if (await deleteIfUnreferenced(db, photo.id)) {
        result.deleted++;
      } else {
        await db.update(photos).set({ localStoragePath: null, localThumbnailPath: null }).where(eq(photos.id, photo.id));
        result.kept++;
      }
    }
    options.onProgress?.();
  }
}

/** Removes every file of `photo`; returns how many existed. */
async function removePhotoFiles(db: Db, dataDir: string, photo: typeof photos.$inferSelect, completedDays: string[]): Promise<number> {
  const rel: string[] = [];
  if (photo.localStoragePath) rel.push(photo.localStoragePath);
  if (photo.localThumbnailPath) rel.push(photo.localThumbnailPath);
  if (photo.isGenerated) {
    const steps = await db.execute<{ session_id: string; step_id: string }>(
      sql`SELECT s.session_id, s.id AS step_id FROM generation_steps s
          WHERE s.selected_image_id = ${photo.id} OR s.id IN (SELECT step_id FROM step_alternatives WHERE image_id = ${photo.id})`,
    );
    for (const s of steps) {
      const p = selectionPaths(s.session_id, s.step_id, photo.id, new Date());
      rel.push(p.selected, p.selectedThumb);
    }
    for (const day of completedDays) {
      rel.push(`photos/generated/completed/${day}/${photo.id}.png`, `photos/thumbnails/generated/completed/${day}/${photo.id}.webp`);
    }
  }
  let removed = 0;
  for (const r of new Set(rel)) {
    const abs = resolveDataPath(dataDir, r);
    if (await fs.stat(abs).then(() => true, () => false)) removed++;
    await removeFile(abs);
  }
  await removeSharedCopy(dataDir, photo);
  return removed;
}

/** Deletes the claimed row unless something points at it (with its share links; album covers cleared). */
async function deleteIfUnreferenced(db: Db, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [still] = await tx.execute<{ referenced: boolean }>(sql`SELECT ${referenced(sql`${id}::uuid`)} AS referenced`);
    if (still?.referenced) return false;
    await tx.delete(sharedLinks).where(eq(sharedLinks.photoId, id));
    await tx.update(albums).set({ coverPhotoId: null }).where(eq(albums.coverPhotoId, id));
    const rows = await tx.delete(photos).where(and(eq(photos.id, id), isNotNull(photos.purgedAt))).returning({ id: photos.id });
    return rows.length > 0;
  });
}

/** The `yyyy-mm-dd` folders under `photos/generated/completed` (selected images are linked there). */
async function completedDayFolders(dataDir: string): Promise<string[]> {
  const dirs = await fs.readdir(resolveDataPath(dataDir, 'photos/generated/completed')).catch(() => [] as string[]);
  return dirs.filter((d) => /^\d{4}-\d\d-\d\d$/.test(d));
}

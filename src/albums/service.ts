/**
 * Albums: ordered sets of photos. Positions are 1-based and dense after a reorder; every change to
 * an album or its photos moves `updated_at`. Soft-deleted photos stay members but are not listed.
 */
import { and, asc, count, desc, eq, inArray, isNull, max, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { albumPhotos, albums, photos, sharedLinks } from '../db/schema.js';
import { badRequest, notFound } from '../errors.js';
import type { PhotoRow } from '../photos/upload.js';

/** An album row with the number of its (not deleted) photos. */
export type AlbumWithCount = typeof albums.$inferSelect & { photoCount: number };

/** Transaction or database: the services below run in either. */
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

const now = sql`clock_timestamp()`;

// Written with qualified names: inside a select drizzle renders columns unqualified, and "id" would bind to photos.id.
const photoCount = sql<number>`(SELECT count(*)::int FROM album_photos ap JOIN photos p ON p.id = ap.photo_id
  WHERE ap.album_id = "albums"."id" AND p.deleted_at IS NULL)`.mapWith(Number);

/** Creates an album. `name` 1–200 chars (checked by the caller's schema). */
export async function createAlbum(db: Db, input: { name: string; description?: string | null }): Promise<AlbumWithCount> {
  const [row] = await db.insert(albums).values({ name: input.name, description: input.description ?? null }).returning();
  return { ...row!, photoCount: 0 };
}

/** A page of albums, most recently changed first. */
export async function listAlbums(db: Db, page: { limit: number; offset: number }): Promise<{ items: AlbumWithCount[]; total: number }> {
  const [rows, totals] = await Promise.all([
    db
      .select({ album: albums, photoCount })
      .from(albums)
      .orderBy(desc(albums.updatedAt), desc(albums.id))
      .limit(page.limit)
      .offset(page.offset),
    db.select({ n: count() }).from(albums),
  ]);
  return { items: rows.map((r) => ({ ...r.album, photoCount: r.photoCount })), total: totals[0]?.n ?? 0 };
}

/** One album. @throws AppError `not_found` */
export async function getAlbum(db: Db | Tx, id: string): Promise<AlbumWithCount> {
  const [row] = await db.select({ album: albums, photoCount }).from(albums).where(eq(albums.id, id));
  if (!row) throw notFound('album', id);
  return { ...row.album, photoCount: row.photoCount };
}

/**
 * Changes name, description and/or cover (`null` clears it).
 * @throws AppError `not_found`; `validation_error` when the cover is not a (not deleted) photo of the album
 */
export async function updateAlbum(
  db: Db,
  id: string,
  patch: { name?: string; description?: string | null; coverPhotoId?: string | null },
): Promise<AlbumWithCount> {
  return db.transaction(async (tx) => {
    await lockAlbum(tx, id);
    if (patch.coverPhotoId) {
      const [m] = await tx
        .select({ id: albumPhotos.photoId })
        .from(albumPhotos)
        .innerJoin(photos, eq(photos.id, albumPhotos.photoId))
        .where(and(eq(albumPhotos.albumId, id), eq(albumPhotos.photoId, patch.coverPhotoId), isNull(photos.deletedAt)));
      if (!m) throw badRequest(`cover_photo_id: photo ${patch.coverPhotoId} is not in this album`);
    }
    await tx
      .update(albums)
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.description !== undefined && { description: patch.description }),
        ...(patch.coverPhotoId !== undefined && { coverPhotoId: patch.coverPhotoId }),
        updatedAt: now,
      })
      .where(eq(albums.id, id));
    return getAlbum(tx, id);
  });
}

/** Deletes an album, its memberships and its share links (the photos stay). @throws AppError `not_found` */
export async function deleteAlbum(db: Db, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    await lockAlbum(tx, id);
    await tx.delete(sharedLinks).where(eq(sharedLinks.albumId, id));
    await tx.delete(albums).where(eq(albums.id, id));
  });
}

/** A page of an album's photos in position order (deleted photos left out). @throws AppError `not_found` */
export async function listAlbumPhotos(db: Db, id: string, page: { limit: number; offset: number }): Promise<{ items: PhotoRow[]; total: number }> {
  await getAlbum(db, id);
  const where = and(eq(albumPhotos.albumId, id), isNull(photos.deletedAt));
  const [rows, totals] = await Promise.all([
    db
      .select({ photo: photos })
      .from(albumPhotos)
      .innerJoin(photos, eq(photos.id, albumPhotos.photoId))
      .where(where)
      .orderBy(asc(albumPhotos.position), asc(albumPhotos.addedAt), asc(photos.id))
      .limit(page.limit)
      .offset(page.offset),
    db.select({ n: count() }).from(albumPhotos).innerJoin(photos, eq(photos.id, albumPhotos.photoId)).where(where),
  ]);
  return { items: rows.map((r) => r.photo), total: totals[0]?.n ?? 0 };
}

/**
 * Appends photos in the given order, skipping those already in the album (and repeats in the list).
 * All or nothing: if any id is not an existing, non-deleted photo, nothing is added.
 * @returns the ids actually added, in order
 * @throws AppError `not_found` (album); `validation_error` with `unknown_photo_ids` listing the unknown ids
 */
export async function addPhotosToAlbum(db: Db, id: string, photoIds: string[]): Promise<{ added: string[]; album: AlbumWithCount }> {
  const wanted = [...new Set(photoIds)];
  return db.transaction(async (tx) => {
    await lockAlbum(tx, id);
    const known = new Set(
      (await tx.select({ id: photos.id }).from(photos).where(and(inArray(photos.id, wanted), isNull(photos.deletedAt)))).map((r) => r.id),
    );
    const unknown = wanted.filter((p) => !known.has(p));
    if (unknown.length) throw badRequest(`unknown photo ids: ${unknown.join(', ')}`, { unknown_photo_ids: unknown });
    const present = new Set(
      (await tx
        .select({ id: albumPhotos.photoId })
        .from(albumPhotos)
        .where(and(eq(albumPhotos.albumId, id), inArray(albumPhotos.photoId, wanted)))).map((r) => r.id),
    );
    const added = wanted.filter((p) => !present.has(p));
    if (added.length) {
      const [{ last } = { last: 0 }] = await tx.select({ last: max(albumPhotos.position) }).from(albumPhotos).where(eq(albumPhotos.albumId, id));
      const start = (last ?? 0) + 1;
      await tx.insert(albumPhotos).values(added.map((photoId, i) => ({ albumId: id, photoId, position: start + i })));
      await tx.update(albums).set({ updatedAt: now }).where(eq(albums.id, id));
    }
    return { added, album: await getAlbum(tx, id) };
  });
}

/**
 * Takes a photo out of an album (clearing the cover if it was the cover).
 * @throws AppError `not_found` when the album does not exist or the photo is not in it
 */
export async function removePhotoFromAlbum(db: Db, id: string, photoId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await lockAlbum(tx, id);
    const gone = await tx
      .delete(albumPhotos)
      .where(and(eq(albumPhotos.albumId, id), eq(albumPhotos.photoId, photoId)))
      .returning({ id: albumPhotos.photoId });
    if (!gone[0]) throw notFound(`photo ${photoId} in album`, id);
    await tx
      .update(albums)
      .set({ updatedAt: now, coverPhotoId: sql`NULLIF(${albums.coverPhotoId}, ${photoId}::uuid)` })
      .where(eq(albums.id, id));
  });
}

/**
 * Sets the order of an album's photos. `photoIds` must be exactly the album's (not deleted) photos,
 * each once; deleted members keep their relative order after them.
 * @throws AppError `not_found`; `validation_error` with `missing_photo_ids` / `unexpected_photo_ids`
 */
export async function reorderAlbumPhotos(db: Db, id: string, photoIds: string[]): Promise<void> {
  await db.transaction(async (tx) => {
    await lockAlbum(tx, id);
    const members = await tx
      .select({ id: albumPhotos.photoId, deleted: photos.deletedAt })
      .from(albumPhotos)
      .innerJoin(photos, eq(photos.id, albumPhotos.photoId))
      .where(eq(albumPhotos.albumId, id))
      .orderBy(asc(albumPhotos.position), asc(albumPhotos.addedAt), asc(photos.id));
    const visible = new Set(members.filter((m) => !m.deleted).map((m) => m.id!));
    const given = new Set(photoIds);
    if (given.size !== photoIds.length) throw badRequest('photo_ids: each photo may appear once');
    const missing = [...visible].filter((p) => !given.has(p));
    const unexpected = photoIds.filter((p) => !visible.has(p));
    if (missing.length || unexpected.length) {
      throw badRequest('photo_ids must be exactly the photos of the album', { missing_photo_ids: missing, unexpected_photo_ids: unexpected });
    }
    const order = [...photoIds, ...members.filter((m) => m.deleted).map((m) => m.id!)];
    if (order.length) {
      // One UPDATE from a VALUES list; (album_id, photo_id) is the primary key.
      const values = sql.join(
        order.map((p, i) => sql`(${p}::uuid, ${i + 1}::int)`),
        sql`, `,
      );
      await tx.execute(
        sql`UPDATE ${albumPhotos} SET position = v.pos FROM (VALUES ${values}) AS v(photo_id, pos)
            WHERE ${albumPhotos.albumId} = ${id} AND ${albumPhotos.photoId} = v.photo_id`,
      );
    }
    await tx.update(albums).set({ updatedAt: now }).where(eq(albums.id, id));
  });
}

/** Locks the album row for the rest of the transaction. @throws AppError `not_found` */
async function lockAlbum(tx: Tx, id: string): Promise<void> {
  const rows = await tx.select({ id: albums.id }).from(albums).where(eq(albums.id, id)).for('update');
  if (!rows[0]) throw notFound('album', id);
}

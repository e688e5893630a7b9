/**
 * Share links (seed 001 §7.2): a 256-bit random key that opens one photo or one album, optionally
 * until an expiry. What leaves through a link is a metadata-free copy (no EXIF/GPS, no InvokeAI
 * text chunks, no original filename), made once per photo and cached under `share-cache/`.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { albumPhotos, albums, photos, sharedLinks } from '../db/schema.js';
import { AppError, badRequest, notFound } from '../errors.js';
import { listAlbumPhotos } from '../albums/service.js';
import { getServablePhoto } from '../photos/library.js';
import type { PhotoRow } from '../photos/upload.js';
import { commitTempFile, removeFile, resolveDataPath, shareCopyPath, tempPathFor } from '../storage/files.js';
import { imageTypeForMime, strippedCopyType, writeStrippedCopy, type ImageType } from '../storage/images.js';

/** A `shared_links` row. */
export type ShareRow = typeof sharedLinks.$inferSelect;

/** What a new link opens and until when: exactly one of `photoId`/`albumId`; at most one of the expiries. */
export interface CreateShareInput {
  photoId?: string;
  albumId?: string;
  /** seconds from now, > 0 */
  expiresInSeconds?: number;
  expiresAt?: Date;
}

/** A fresh access key: 32 bytes (256 bits) from the CSPRNG, base64url without padding (43 chars). */
export function newAccessKey(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Creates a share link.
 * @throws AppError `validation_error` (not exactly one target, both expiries, an expiry in the
 *   past, a deleted photo), `not_found` (no such photo or album)
 */
export async function createShare(db: Db, input: CreateShareInput): Promise<ShareRow> {
  if (Boolean(input.photoId) === Boolean(input.albumId)) throw badRequest('exactly one of photo_id and album_id is required');
  if (input.expiresInSeconds !== undefined && input.expiresAt !== undefined) {
    throw badRequest('give expires_in_seconds or expires_at, not both');
  }
  const expiresAt =
    input.expiresInSeconds !== undefined ? new Date(Date.now() + input.expiresInSeconds * 1000) : (input.expiresAt ?? null);
  if (expiresAt && expiresAt.getTime() <= Date.now()) throw badRequest('expires_at: must be in the future');
  if (input.photoId) {
    const [photo] = await db.select({ deletedAt: photos.deletedAt }).from(photos).where(eq(photos.id, input.photoId));
    if (!photo || photo.deletedAt) throw notFound('photo', input.photoId);
  } else {
    const [album] = await db.select({ id: albums.id }).from(albums).where(eq(albums.id, input.albumId!));
    if (!album) throw notFound('album', input.albumId);
  }
  const [row] = await db
    .insert(sharedLinks)
    .values({ photoId: input.photoId ?? null, albumId: input.albumId ?? null, accessKey: newAccessKey(), expiresAt })
    .returning();
  return row!;
}

/** Every link, newest first. */
export async function listShares(db: Db): Promise<ShareRow[]> {
  return db.select().from(sharedLinks).orderBy(desc(sharedLinks.createdAt), desc(sharedLinks.id));
}

/**
 * Revokes a link (deletes it): its key answers 404 from now on.
 * @throws AppError `not_found`
 */
export async function revokeShare(db: Db, id: string): Promise<void> {
  const rows = await db.delete(sharedLinks).where(eq(sharedLinks.id, id)).returning({ id: sharedLinks.id });
  if (!rows[0]) throw notFound('share', id);
}

/**
 * The link behind `accessKey`, recording the access (`last_accessed_at = now`).
 * @throws AppError `not_found` (unknown or revoked key), `gone` (410, expired)
 */
export async function openShare(db: Db, accessKey: string): Promise<ShareRow> {
  const [row] = await db
    .update(sharedLinks)
    .set({ lastAccessedAt: sql`clock_timestamp()` })
    .where(eq(sharedLinks.accessKey, accessKey))
    .returning();
  if (!row) throw notFound('share link');
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) throw new AppError('gone', 'this share link has expired');
  return row;
}

/** What a link shows: one photo, or an album page with its photos in album order. */
export type SharedContent =
  | { type: 'photo'; photo: PhotoRow }
  | { type: 'album'; album: { name: string; description: string | null }; photos: PhotoRow[]; total: number };

/**
 * The content of an opened link. Soft-deleted photos are not shown.
 * @param page album page (`limit` 1–200, `offset` ≥ 0); ignored for a photo link
 * @throws AppError `not_found` when the shared photo was deleted or the album is gone
 */
export async function sharedContent(db: Db, share: ShareRow, page: { limit: number; offset: number }): Promise<SharedContent> {
  if (share.photoId) {
    const [photo] = await db.select().from(photos).where(and(eq(photos.id, share.photoId), isNull(photos.deletedAt)));
    if (!photo) throw notFound('shared photo');
    return { type: 'photo', photo };
  }
  const [album] = await db.select().from(albums).where(eq(albums.id, share.albumId!));
  if (!album) throw notFound('shared album');
  const { items, total } = await listAlbumPhotos(db, album.id, page);
  return {
    type: 'album',
    album: { name: album.name, description: album.description },
    photos: items,
    total,
  };
}

/**
 * Photo `photoId` if the link covers it (it is the shared photo, or in the shared album) and it
 * can be served.
 * @throws AppError `not_found` when the link does not cover it or it is deleted; `conflict` while a
 *   generated photo is not retrieved
 */
export async function sharedPhoto(db: Db, share: ShareRow, photoId: string): Promise<PhotoRow> {
  let covered = share.photoId === photoId;
  if (!covered && share.albumId) {
    const [m] = await db
      .select({ id: albumPhotos.photoId })
      .from(albumPhotos)
      .where(and(eq(albumPhotos.albumId, share.albumId), eq(albumPhotos.photoId, photoId)));
    covered = Boolean(m);
  }
  if (!covered) throw notFound('photo', photoId);
  return getServablePhoto(db, photoId);
}

/** The type the shared copy of `photo` is served as (see `strippedCopyType`). */
export function sharedCopyType(photo: Pick<PhotoRow, 'mimeType'>): ImageType {
  return strippedCopyType(imageTypeForMime(photo.mimeType)?.format ?? 'webp');
}

/**
 * The absolute path of `photo`'s metadata-free copy, made on first use (atomically) and reused.
 * @throws sharp's or the filesystem's error
 */
export async function ensureSharedCopy(dataDir: string, photo: PhotoRow): Promise<{ path: string; type: ImageType }> {
  const type = sharedCopyType(photo);
  const finalPath = resolveDataPath(dataDir, shareCopyPath(photo.id, type.ext));
  if (await fs.stat(finalPath).then((s) => s.isFile(), () => false)) return { path: finalPath, type };
  await fs.mkdir(path.dirname(finalPath), { recursive: true });
  const tmp = tempPathFor(finalPath);
  try {
    const source = resolveDataPath(dataDir, photo.localStoragePath!);
    const format = imageTypeForMime(photo.mimeType)?.format ?? 'png';
    // The encoder is chosen from the original's format, not from the temporary name's extension.
    await writeStrippedCopy(source, tmp, format);
    await commitTempFile(tmp, finalPath);
  } catch (err) {
    await removeFile(tmp);
    throw err;
  }
  return { path: finalPath, type };
}

/** Removes the cached shared copy of photo `id` (e.g. when its files are purged). */
export async function removeSharedCopy(dataDir: string, photo: Pick<PhotoRow, 'id' | 'mimeType'>): Promise<void> {
  await removeFile(resolveDataPath(dataDir, shareCopyPath(photo.id, sharedCopyType(photo).ext)));
}

/**
 * Photo upload: the bytes stream to a temporary file next to their final place while their sha256
 * is computed and their size checked; the type is decided by magic bytes and confirmed by sharp's
 * header read; the thumbnail is made (which decodes the whole image, catching truncation); then one
 * transaction inserts the row and renames both files into place. On any failure the temporary and
 * final files are removed and no row remains.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { and, eq, isNotNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { photos } from '../db/schema.js';
import { AppError, badRequest } from '../errors.js';
import { commitTempFile, photoPaths, removeFile, resolveDataPath, tempPathFor } from '../storage/files.js';
import {
  heicSupported,
  ImageRejectedError,
  inspectImage,
  makeThumbnail,
  SNIFF_BYTES,
  sniffImageType,
  strictFailOn,
  type ImageType,
} from '../storage/images.js';

/** A photo row as drizzle returns it. */
export type PhotoRow = typeof photos.$inferSelect;

/** What `uploadPhoto` needs besides the bytes. */
export interface UploadStore {
  db: Db;
  /** absolute DATA_DIR */
  dataDir: string;
  /** MAX_UPLOAD_SIZE, bytes */
  maxBytes: number;
}

/** One upload: the file's bytes as a stream and the client's filename (metadata only, never a path). */
export interface UploadInput {
  file: Readable;
  filename?: string | null;
}

/** The stored photo, and whether the same bytes were already there (then no copy was made). */
export interface UploadResult {
  photo: PhotoRow;
  duplicate: boolean;
}

/**
 * Stores an uploaded photo (see the module comment). The same bytes uploaded again return the
 * existing photo with `duplicate: true` (a photo in the trash is restored).
 * @throws AppError `payload_too_large` (413) as soon as more than `maxBytes` arrive
 * @throws AppError `validation_error` (400): empty, unsupported type (SVG, PDF, HEIC without
 *   decoder…), undecodable/truncated/corrupt data, sides outside 100–8192 px, or a body that ended early
 */
export async function uploadPhoto(store: UploadStore, input: UploadInput): Promise<UploadResult> {
  const id = randomUUID();
  const createdAt = new Date();
  // The extension is known only after sniffing; the temporary file sits in the final directory.
  const dir = path.dirname(resolveDataPath(store.dataDir, photoPaths({ kind: 'uploaded', id, ext: 'x', date: createdAt }).file));
  await fs.mkdir(dir, { recursive: true });
  const tmpFile = tempPathFor(path.join(dir, id));
  const cleanup: string[] = [tmpFile];
  try {
    const { sha256, size, type } = await receiveBytes(input.file, tmpFile, store.maxBytes);

    const existing = await findByHash(store.db, sha256);
    if (existing && !existing.purgedAt) {
      await removeFile(tmpFile);
      return { photo: existing.deletedAt ? await undelete(store.db, existing.id) : existing, duplicate: true };
    }

    const info = await inspectImage(tmpFile, type).catch(rethrowRejected);
    const thumbnail = await makeThumbnail(tmpFile, { failOn: strictFailOn(type.format) }).catch((err: unknown) => {
      throw badRequest(`truncated or corrupt ${type.format} data: ${String((err as Error).message).split('\n')[0]}`);
    });

    const paths = photoPaths({ kind: 'uploaded', id, ext: type.ext, date: createdAt });
    const finalFile = resolveDataPath(store.dataDir, paths.file);
    const finalThumb = resolveDataPath(store.dataDir, paths.thumbnail);
    const tmpThumb = tempPathFor(finalThumb);
    cleanup.push(tmpThumb, finalFile, finalThumb);
    await fs.mkdir(path.dirname(finalThumb), { recursive: true });
    await fs.writeFile(tmpThumb, thumbnail, { flag: 'wx' });

    const inserted = await store.db.transaction(async (tx) => {
      if (existing?.purgedAt) {
        // The purge removed those files; the bytes come back as a new photo.
        await tx.update(photos).set({ fileHash: null }).where(eq(photos.id, existing.id));
      }
      const rows = await tx
        .insert(photos)
        .values({
          id,
          filename: `${id}.${type.ext}`,
          originalFilename: cleanFilename(input.filename),
          width: info.width,
          height: info.height,
          fileSize: size,
          mimeType: type.mime,
          createdAt,
          isGenerated: false,
          retrievalStatus: 'completed',
          localStoragePath: paths.file,
          localThumbnailPath: paths.thumbnail,
          fileHash: sha256,
        })
        .onConflictDoNothing({ target: photos.fileHash, where: isNotNull(photos.fileHash) })
        .returning();
      if (!rows[0]) return undefined; // the same bytes were stored concurrently
      await commitTempFile(tmpFile, finalFile);
      await commitTempFile(tmpThumb, finalThumb);
      return rows[0];
    });
    if (!inserted) {
      await Promise.all(cleanup.map(removeFile));
      const winner = await findByHash(store.db, sha256);
      if (!winner) throw new AppError('conflict', 'a concurrent upload of the same bytes did not complete; try again');
      return { photo: winner, duplicate: true };
    }
    return { photo: inserted, duplicate: false };
  } catch (err) {
    await Promise.all(cleanup.map(removeFile));
    throw err;
  }
}

/** Streams `file` into `tmpFile`, hashing and counting; refuses an unknown type at the first bytes. */
async function receiveBytes(file: Readable, tmpFile: string, maxBytes: number): Promise<{ sha256: string; size: number; type: ImageType }> {
  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  let type: ImageType | undefined;
  // Created before piping, so the file exists (and the caller's cleanup removes it) even when the
  // pipeline fails before a lazily opened write stream would have created it.
  const fh = await fs.open(tmpFile, 'wx');
  try {
    await pipeline(
      file,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          size += chunk.length;
          if (size > maxBytes) throw new AppError('payload_too_large', `file larger than ${maxBytes} bytes`);
          hash.update(chunk);
          if (!type && head.length < SNIFF_BYTES) {
            head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES)]);
            if (head.length >= SNIFF_BYTES) type = checkType(head);
          }
          yield chunk;
        }
      },
      fh.createWriteStream(),
    );
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw badRequest(`upload ended early or the multipart body is malformed: ${(err as Error).message}`);
  } finally {
    await fh.close().catch(() => {});
  }
  if (size === 0) throw badRequest('the file is empty');
  type ??= checkType(head);
  return { sha256: hash.digest('hex'), size, type };
}

function checkType(head: Buffer): ImageType {
  const type = sniffImageType(head);
  if (!type) throw badRequest('unsupported file type: accepted are JPEG, PNG, WebP, GIF, TIFF, AVIF' + (heicSupported() ? ', HEIC' : ''));
  if (type.format === 'heic' && !heicSupported()) {
    throw badRequest('HEIC/HEIF (HEVC) images are not supported by this server’s image library; convert to JPEG or AVIF');
  }
  return type;
}

function rethrowRejected(err: unknown): never {
  if (err instanceof ImageRejectedError) throw badRequest(err.message);
  throw err;
}

async function findByHash(db: Db, sha256: string): Promise<PhotoRow | undefined> {
  const rows = await db.select().from(photos).where(and(eq(photos.fileHash, sha256), isNotNull(photos.fileHash)));
  return rows[0];
}

async function undelete(db: Db, id: string): Promise<PhotoRow> {
  const rows = await db.update(photos).set({ deletedAt: null }).where(eq(photos.id, id)).returning();
  return rows[0]!;
}

/** The client's filename as harmless metadata: base name only, no control characters, ≤ 255 chars. */
function cleanFilename(name: string | null | undefined): string | null {
  if (!name) return null;
  const base = name.split(/[/\\]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return base ? base.slice(0, 255) : null;
}

/**
 * The file store under DATA_DIR: where photos, thumbnails and shared copies live, and the two
 * primitives every writer uses — write to a temporary name in the target directory, fsync, rename —
 * so a reader never sees half a file and a crash leaves at most a `.tmp` file that
 * `sweepTempFiles` removes.
 *
 * Paths stored in the database (`photos.local_storage_path`, `local_thumbnail_path`) are
 * **relative to DATA_DIR** (`photos/uploaded/2025-01-31/<id>.jpg`); `resolveDataPath` turns them
 * into absolute paths and refuses anything that would leave DATA_DIR.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Where a photo came from; decides its folder. */
export type PhotoKind = 'uploaded' | 'generated';

/** Relative paths (to DATA_DIR) of a photo's original and its WebP thumbnail. */
export interface PhotoPaths {
  /** e.g. `photos/uploaded/2025-01-31/<id>.jpg` */
  file: string;
  /** e.g. `photos/thumbnails/uploaded/2025-01-31/<id>.webp` */
  thumbnail: string;
}

/** `yyyy-mm-dd` of `date` in UTC: the day folder a photo is filed under. */
export function dayFolder(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * The relative paths of photo `id` created on `date` (UTC day), seed 001 §2.2:
 * `photos/{kind}/{yyyy-mm-dd}/{id}.{ext}` and `photos/thumbnails/{kind}/{yyyy-mm-dd}/{id}.webp`.
 * @param ext extension without the dot, e.g. `png`
 * @example photoPaths({ kind: 'generated', id, ext: 'png', date: new Date() })
 */
export function photoPaths(p: { kind: PhotoKind; id: string; ext: string; date: Date }): PhotoPaths {
  const day = dayFolder(p.date);
  return {
    file: `photos/${p.kind}/${day}/${p.id}.${p.ext}`,
    thumbnail: `photos/thumbnails/${p.kind}/${day}/${p.id}.webp`,
  };
}

/** Relative path of the metadata-free copy of photo `id` served through share links. */
export function shareCopyPath(id: string, ext: string): string {
  return `share-cache/${id}.${ext}`;
}

/**
 * The absolute path of `stored` (a path relative to `dataDir`; an absolute path inside `dataDir` is
 * accepted too).
 * @throws Error when the path would leave `dataDir` (e.g. contains `..` segments that escape it)
 */
export function resolveDataPath(dataDir: string, stored: string): string {
  const root = path.resolve(dataDir);
  const abs = path.resolve(root, stored);
  if (abs !== root && !abs.startsWith(root + path.sep)) throw new Error(`path ${JSON.stringify(stored)} is outside DATA_DIR`);
  return abs;
}

/** A fresh temporary name next to `finalPath` (same directory, so the rename is atomic). */
export function tempPathFor(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** fsyncs the file (or directory) at `p`. */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Moves a complete temporary file into place: fsync the data, rename, fsync the directory.
 * @throws the filesystem error (the temporary file is left for the caller to remove)
 */
export async function commitTempFile(tempPath: string, finalPath: string): Promise<void> {
  await fsyncPath(tempPath);
  await fs.rename(tempPath, finalPath);
  await fsyncPath(path.dirname(finalPath)).catch(() => {});
}

/**
 * Writes `data` to `finalPath` atomically: a temporary name in the same directory (created if
 * needed), fsync, rename. Readers see the old file or the whole new one, never a part.
 * @throws the filesystem error; the temporary file is removed
 * @example await writeFileAtomic(resolveDataPath(dataDir, paths.thumbnail), await makeThumbnail(png))
 */
export async function writeFileAtomic(finalPath: string, data: Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(finalPath), { recursive: true });
  const tmp = tempPathFor(finalPath);
  try {
    await fs.writeFile(tmp, data, { flag: 'wx' });
    await commitTempFile(tmp, finalPath);
  } catch (err) {
    await removeFile(tmp);
    throw err;
  }
}

/** Deletes `p`; a file that is already gone is not an error. @throws other filesystem errors */
export async function removeFile(p: string): Promise<void> {
  await fs.rm(p, { force: true });
}

/**
 * Removes `.tmp` files left by a crash under `dataDir/photos` and `dataDir/share-cache` that are
 * older than `olderThanMs` (default 1 h, so uploads in progress are left alone).
 * @returns how many were removed
 */
export async function sweepTempFiles(dataDir: string, olderThanMs = 3_600_000): Promise<number> {
  let removed = 0;
  const cutoff = Date.now() - olderThanMs;
  for (const top of ['photos', 'share-cache']) {
    let entries: string[];
    try {
      entries = (await fs.readdir(path.join(dataDir, top), { recursive: true })) as string[];
    } catch {
      continue;
    }
    for (const rel of entries) {
      if (!path.basename(rel).endsWith('.tmp')) continue;
      const abs = path.join(dataDir, top, rel);
      const st = await fs.stat(abs).catch(() => undefined);
      if (st?.isFile() && st.mtimeMs < cutoff) {
        await removeFile(abs);
        removed++;
      }
    }
  }
  return removed;
}

/**
 * Retrieval of a generated image from InvokeAI to the file store: one attempt per activity run;
 * Temporal's RetryPolicy (from the settings) decides when to try again.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { heartbeat } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import sharp from 'sharp';
import { AppError } from '../src/errors.js';
import { photos, stepAlternatives, generationSteps } from '../src/db/schema.js';
import { backendClient } from '../src/generation/backend.js';
import { variantPaths } from '../src/generation/paths.js';
import { commitTempFile, removeFile, resolveDataPath, tempPathFor, writeFileAtomic } from '../src/storage/files.js';
import { makeThumbnail, SHARP_INPUT } from '../src/storage/images.js';
import type { ActivityDeps } from './index.js';

/** A generated PNG larger than this is refused (bytes). 4096² RGBA uncompressed is 64 MiB. */
const MAX_IMAGE_BYTES = 96 * 1024 * 1024;

/** Builds the storage activities. */
export function createStorageActivities({ database, config }: ActivityDeps) {
  const { db } = database;

  return {
    /**
     * One retrieval attempt of a generated photo: streams `GET /api/v1/images/i/{name}/full` to a
     * temporary file (size-limited), checks it is a decodable PNG of the expected size, renames it
     * to `photos/generated/sessions/{session}/{step}/variants/{photo}.png`, writes a WebP thumbnail
     * ≤ 300 px and marks the photo `completed` (`/metadata` was merged into `generation_params` when
     * the photo was recorded).
     * Each attempt counts in `retrieval_attempts`. A completed photo is left as it is.
     * @throws the InvokeAI error (retryable or not); Error for a truncated or wrong image (retryable)
     */
    async retrieveImage(input: { photoId: string }): Promise<{ photoId: string; bytes: number }> {
      const [row] = await db
        .select({ photo: photos, sessionId: generationSteps.sessionId, stepId: generationSteps.id })
        .from(photos)
        .innerJoin(stepAlternatives, eq(stepAlternatives.imageId, photos.id))
        .innerJoin(generationSteps, eq(generationSteps.id, stepAlternatives.stepId))
        .where(eq(photos.id, input.photoId));
      if (!row) throw new AppError('not_found', `generated photo ${input.photoId} not found`);
      const { photo } = row;
      if (photo.retrievalStatus === 'completed') return { photoId: photo.id, bytes: photo.fileSize };
      if (!photo.invokeId) throw new AppError('validation_error', `photo ${photo.id} has no InvokeAI image name`);

      await db
        .update(photos)
        .set({ retrievalStatus: 'processing', retrievalAttempts: sql`${photos.retrievalAttempts} + 1`, lastRetrievalAttempt: new Date() })
        .where(eq(photos.id, photo.id));
      heartbeat();

      const rel = variantPaths(row.sessionId, row.stepId, photo.id);
      const finalPath = resolveDataPath(config.DATA_DIR, rel.file);
      const tmp = tempPathFor(finalPath);
      try {
        const client = await backendClient(db, config);
        await fsp.mkdir(path.dirname(finalPath), { recursive: true });
        await removeStaleTemps(finalPath);
        const image = await client.getImageFull(photo.invokeId);
        let bytes = 0;
        const limit = new Transform({
          transform(chunk: Buffer, _enc, done) {
            bytes += chunk.length;
            done(bytes > MAX_IMAGE_BYTES ? new Error(`image larger than ${MAX_IMAGE_BYTES} bytes`) : null, chunk);
          },
        });
        const expected = image.contentLength !== undefined ? ` of ${image.contentLength}` : '';
        try {
          await pipeline(image.body, limit, fs.createWriteStream(tmp, { flags: 'wx' }));
        } catch (err) {
          throw new Error(`download of ${photo.invokeId} interrupted after ${bytes}${expected} bytes: ${(err as Error).message}`);
        }
        if (image.contentLength !== undefined && bytes !== image.contentLength) {
          throw new Error(`truncated image: ${bytes}${expected} bytes`);
        }
        heartbeat();
        const meta = await sharp(tmp, SHARP_INPUT).metadata();
        if (meta.format !== 'png') throw new Error(`expected a PNG, got ${meta.format ?? 'unknown data'}`);
        if (meta.width !== photo.width || meta.height !== photo.height) {
          throw new Error(`expected ${photo.width}×${photo.height} px, got ${meta.width}×${meta.height}`);
        }
        // Decodes every pixel: a truncated or corrupt PNG fails here, before anything is renamed.
        const thumbnail = await makeThumbnail(tmp);
        await commitTempFile(tmp, finalPath);
        await writeFileAtomic(resolveDataPath(config.DATA_DIR, rel.thumbnail), thumbnail);
        await db
          .update(photos)
          .set({
            retrievalStatus: 'completed',
            retrievalError: null,
            fileSize: bytes,
            width: meta.width,
            height: meta.height,
            localStoragePath: rel.file,
            localThumbnailPath: rel.thumbnail,
          })
          .where(eq(photos.id, photo.id));
        return { photoId: photo.id, bytes };
      } catch (err) {
        await removeFile(tmp);
        await db
          .update(photos)
          .set({ retrievalStatus: 'pending', retrievalError: (err as Error).message })
          .where(eq(photos.id, photo.id));
        throw err;
      }
    },
  };
}

/** Removes the temporary files an earlier attempt of this photo left when its worker was killed. */
async function removeStaleTemps(finalPath: string): Promise<void> {
  const prefix = `.${path.basename(finalPath)}.`;
  for (const name of await fsp.readdir(path.dirname(finalPath))) {
    if (name.startsWith(prefix) && name.endsWith('.tmp')) await removeFile(path.join(path.dirname(finalPath), name));
  }
}

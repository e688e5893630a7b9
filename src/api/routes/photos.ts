/**
 * `/api/photos`: upload (streamed multipart), the library listing, one photo's JSON, its file and
 * thumbnail, soft delete / restore, and the retry of a failed retrieval.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { notFound } from '../../errors.js';
import { requestPhotoRetrieval } from '../../generation/retrieval-client.js';
import { temporalUiUrl } from '../../temporal/connection.js';
import { fileResponse } from '../file-response.js';
import { errorResponses, IdParam, type App, type AppDeps } from '../http.js';
import { receiveMultipartFile } from '../multipart.js';
import { resolveDataPath } from '../../storage/files.js';
import { assertRetrievalRetryable, deletePhoto, getPhoto, getServablePhoto, listPhotos, restorePhoto } from '../../photos/library.js';
import { uploadPhoto } from '../../photos/upload.js';
import { photoView } from '../../photos/view.js';

/** `true`/`false` in a query string (z.coerce.boolean would read "false" as true). */
export const BoolQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

const ts = z.string().nullable().openapi({ format: 'date-time' });

/** A photo as every `/api/*` response shows it. */
export const PhotoSchema = z
  .object({
    id: z.uuid(),
    filename: z.string().openapi({ description: 'stored name, `{id}.{ext}`' }),
    original_filename: z.string().nullable().openapi({ description: "the client's filename (metadata only)" }),
    width: z.number().int().openapi({ description: 'px, as displayed (EXIF orientation applied)' }),
    height: z.number().int().openapi({ description: 'px, as displayed' }),
    file_size: z.number().int().openapi({ description: 'bytes' }),
    mime_type: z.string(),
    file_hash: z.string().nullable().openapi({ description: 'sha256 of the original bytes, hex' }),
    created_at: ts,
    is_generated: z.boolean(),
    generation_prompt: z.string().nullable(),
    generation_negative_prompt: z.string().nullable(),
    generation_params: z.record(z.string(), z.unknown()).nullable(),
    source_image_id: z.uuid().nullable(),
    invoke_id: z.string().nullable(),
    model_key: z.string().nullable(),
    model_hash: z.string().nullable(),
    model_name: z.string().nullable(),
    retrieval_status: z.string().nullable(),
    retrieval_attempts: z.number().int().nullable(),
    last_retrieval_attempt: ts,
    retrieval_error: z.string().nullable(),
    deleted_at: ts,
    url: z.string().openapi({ example: '/api/photos/0b6f4c7e-8a55-4c1e-9a3e-6a1b2c3d4e5f/file' }),
    thumbnail_url: z.string(),
  })
  .openapi('Photo');

const UploadedPhoto = PhotoSchema.extend({
  duplicate: z.boolean().openapi({ description: 'true when the same bytes were already stored (200): this is that photo' }),
}).openapi('UploadedPhoto');

const PhotoPage = z
  .object({
    items: z.array(PhotoSchema),
    total: z.number().int().openapi({ description: 'matching photos: exact up to 10 000, an estimate above (`total_is_estimate`)' }),
    total_is_estimate: z.boolean(),
    limit: z.number().int(),
    offset: z.number().int(),
    next_cursor: z.string().nullable().openapi({ description: 'pass as `cursor` for the next page; null at the end' }),
  })
  .openapi('PhotoPage');

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
  cursor: z.string().max(200).optional().openapi({ description: 'keyset cursor (`next_cursor`); `offset` is ignored with it' }),
  generated: BoolQuery.optional(),
  album_id: z.uuid({ message: 'must be a UUID' }).optional(),
  sort: z.enum(['newest', 'oldest']).default('newest'),
  q: z.string().trim().min(1).max(500).optional().openapi({ description: 'full-text search over the generation prompt (English stemming)' }),
  include_deleted: BoolQuery.optional(),
});

const binary = (description: string) => ({
  description,
  content: { 'image/*': { schema: { type: 'string' as const, format: 'binary' } } },
});
const notRetrieved = {
  description: 'A generated photo whose retrieval is not complete; `error.retrieval_status` says where it is',
  content: errorResponses(409)[409]!.content,
};

const routes = {
  upload: createRoute({
    method: 'post',
    path: '/api/photos',
    tags: ['photos'],
    summary: 'Upload a photo (multipart field `file`)',
    description:
      'The type is decided by the bytes: JPEG, PNG, WebP, GIF, TIFF, AVIF (HEIC when the server can decode it). Each side 100–8192 px; larger than MAX_UPLOAD_SIZE → 413. The same bytes again return the existing photo (200, `X-Duplicate: true`).',
    request: {
      body: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' } } },
          },
        },
      },
    },
    responses: {
      201: { description: 'Stored', content: { 'application/json': { schema: UploadedPhoto } } },
      200: { description: 'The same bytes were already stored: the existing photo', content: { 'application/json': { schema: UploadedPhoto } } },
      ...errorResponses(400, 413, 415),
    },
  }),
  list: createRoute({
    method: 'get',
    path: '/api/photos',
    tags: ['photos'],
    summary: 'List photos (filters, offset or keyset pagination, full-text search)',
    request: { query: ListQuery },
    responses: { 200: { description: 'One page', content: { 'application/json': { schema: PhotoPage } } }, ...errorResponses(400) },
  }),
  get: createRoute({
    method: 'get',
    path: '/api/photos/{id}',
    tags: ['photos'],
    summary: "A photo's metadata",
    request: { params: IdParam },
    responses: { 200: { description: 'The photo', content: { 'application/json': { schema: PhotoSchema } } }, ...errorResponses(400, 404) },
  }),
  file: createRoute({
    method: 'get',
    path: '/api/photos/{id}/file',
    tags: ['photos'],
    summary: 'The original file (Range, ETag)',
    request: { params: IdParam },
    responses: {
      200: binary('The original bytes'),
      206: binary('The requested byte range'),
      304: { description: 'Not modified (If-None-Match)' },
      409: notRetrieved,
      416: { description: 'Range not satisfiable' },
      ...errorResponses(400, 404),
    },
  }),
  thumbnail: createRoute({
    method: 'get',
    path: '/api/photos/{id}/thumbnail',
    tags: ['photos'],
    summary: 'The WebP thumbnail (≤ 300 px)',
    request: { params: IdParam },
    responses: {
      200: binary('image/webp'),
      304: { description: 'Not modified (If-None-Match)' },
      409: notRetrieved,
      ...errorResponses(400, 404),
    },
  }),
  delete: createRoute({
    method: 'delete',
    path: '/api/photos/{id}',
    tags: ['photos'],
    summary: 'Move a photo to the trash (soft delete)',
    request: { params: IdParam },
    responses: { 204: { description: 'In the trash' }, ...errorResponses(400, 404) },
  }),
  restore: createRoute({
    method: 'post',
    path: '/api/photos/{id}/restore',
    tags: ['photos'],
    summary: 'Take a photo out of the trash',
    request: { params: IdParam },
    responses: { 200: { description: 'Restored', content: { 'application/json': { schema: PhotoSchema } } }, ...errorResponses(400, 404, 409) },
  }),
  retry: createRoute({
    method: 'post',
    path: '/api/photos/{id}/retry',
    tags: ['photos'],
    summary: 'Retry the retrieval of a generated photo whose retrieval failed',
    request: { params: IdParam },
    responses: {
      202: {
        description: 'The retrieval was started again (through Temporal)',
        content: {
          'application/json': { schema: z.object({ id: z.uuid(), workflow_id: z.string(), workflow_url: z.string() }).openapi('RetryAccepted') },
        },
      },
      ...errorResponses(400, 404),
    },
  }),
};

/** Cache-Control of photo files and thumbnails: a photo id's bytes never change. */
const IMMUTABLE = 'private, max-age=31536000, immutable';

/** Registers the `/api/photos` routes. */
export function registerPhotoRoutes(app: App, deps: AppDeps): void {
  const { db } = deps.database;
  const dataDir = deps.config.DATA_DIR;

  app.openapi(routes.upload, async (c) => {
    const { file, filename } = await receiveMultipartFile(c.req.raw, deps.config.MAX_UPLOAD_SIZE);
    const result = await uploadPhoto({ db, dataDir, maxBytes: deps.config.MAX_UPLOAD_SIZE }, { file, filename });
    c.header('X-Duplicate', String(result.duplicate));
    c.header('Location', `/api/photos/${result.photo.id}`);
    return c.json({ ...photoView(result.photo), duplicate: result.duplicate }, result.duplicate ? 200 : 201);
  });

  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    const page = await listPhotos(db, {
      limit: q.limit,
      offset: q.offset,
      cursor: q.cursor,
      generated: q.generated,
      albumId: q.album_id,
      sort: q.sort,
      q: q.q,
      includeDeleted: q.include_deleted ?? false,
    });
    return c.json({ items: page.items.map(photoView), total: page.total, total_is_estimate: page.totalIsEstimate, limit: page.limit, offset: page.offset, next_cursor: page.nextCursor }, 200);
  });

  app.openapi(routes.get, async (c) => c.json(photoView(await getPhoto(db, c.req.valid('param').id)), 200));

  app.openapi(routes.file, async (c) => {
    const photo = await getServablePhoto(db, c.req.valid('param').id);
    return fileResponse(c.req.raw, resolveDataPath(dataDir, photo.localStoragePath!), {
      contentType: photo.mimeType,
      cacheControl: IMMUTABLE,
      etag: photo.fileHash ?? undefined,
      filename: photo.filename,
    }) as never;
  });

  app.openapi(routes.thumbnail, async (c) => {
    const photo = await getServablePhoto(db, c.req.valid('param').id);
    if (!photo.localThumbnailPath) throw notFound('thumbnail of photo', photo.id);
    return fileResponse(c.req.raw, resolveDataPath(dataDir, photo.localThumbnailPath), {
      contentType: 'image/webp',
      cacheControl: IMMUTABLE,
      filename: `${photo.id}.webp`,
    }) as never;
  });

  app.openapi(routes.delete, async (c) => {
    await deletePhoto(db, c.req.valid('param').id);
    return c.body(null, 204);
  });

  app.openapi(routes.restore, async (c) => c.json(photoView(await restorePhoto(db, c.req.valid('param').id)), 200));

  app.openapi(routes.retry, async (c) => {
    const photo = await assertRetrievalRetryable(db, c.req.valid('param').id);
    const { workflowId } = await requestPhotoRetrieval(deps, photo.id, { resetAttempts: true });
    return c.json({ id: photo.id, workflow_id: workflowId, workflow_url: temporalUiUrl(deps.config, workflowId) }, 202);
  });
}

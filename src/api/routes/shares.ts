/**
 * Share links: `/api/shares` to create, list and revoke them (behind the API token), and the public
 * `/s/{access_key}` routes, the only ones a key opens. Files leave through a share as
 * metadata-free copies.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { notFound } from '../../errors.js';
import { iso } from '../../photos/view.js';
import type { PhotoRow } from '../../photos/upload.js';
import {
  createShare,
  ensureSharedCopy,
  listShares,
  openShare,
  revokeShare,
  sharedContent,
  sharedCopyType,
  sharedPhoto,
  type ShareRow,
} from '../../shares/service.js';
import { resolveDataPath } from '../../storage/files.js';
import { fileResponse } from '../file-response.js';
import { errorResponses, IdParam, type App, type AppDeps } from '../http.js';

const ShareSchema = z
  .object({
    id: z.uuid(),
    photo_id: z.uuid().nullable(),
    album_id: z.uuid().nullable(),
    access_key: z.string().openapi({ description: '256 random bits, base64url' }),
    url: z.string().openapi({ example: '/s/3q2-7wEAAAA…' }),
    expires_at: z.string().nullable().openapi({ format: 'date-time' }),
    expired: z.boolean(),
    created_at: z.string().nullable().openapi({ format: 'date-time' }),
    last_accessed_at: z.string().nullable().openapi({ format: 'date-time' }),
  })
  .openapi('Share');

const CreateShare = z
  .strictObject({
    photo_id: z.uuid({ message: 'must be a UUID' }).optional(),
    album_id: z.uuid({ message: 'must be a UUID' }).optional(),
    expires_in_seconds: z.number().int().min(1).max(10 * 365 * 86400).optional().openapi({ description: 'seconds from now' }),
    expires_at: z.iso.datetime({ offset: true }).optional(),
  })
  .openapi('CreateShare', { description: 'Exactly one of photo_id / album_id; at most one of expires_in_seconds / expires_at (none: never expires).' });

const SharedPhotoSchema = z
  .object({
    id: z.uuid(),
    width: z.number().int(),
    height: z.number().int(),
    mime_type: z.string().openapi({ description: 'of the served copy' }),
    file_url: z.string(),
    thumbnail_url: z.string(),
  })
  .openapi('SharedPhoto');

const SharedView = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('photo'), expires_at: z.string().nullable(), photo: SharedPhotoSchema }),
    z.object({
      type: z.literal('album'),
      expires_at: z.string().nullable(),
      album: z.object({ name: z.string(), description: z.string().nullable() }),
      photos: z.array(SharedPhotoSchema),
      total: z.number().int(),
      limit: z.number().int(),
      offset: z.number().int(),
    }),
  ])
  .openapi('SharedView');

const KeyParam = z.object({ access_key: z.string().max(200).openapi({ param: { name: 'access_key', in: 'path' } }) });
const KeyPhotoParams = KeyParam.extend({
  photo_id: z.uuid({ message: 'must be a UUID' }).openapi({ param: { name: 'photo_id', in: 'path' } }),
});
const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
const binary = (description: string) => ({ description, content: { 'image/*': { schema: { type: 'string' as const, format: 'binary' } } } });

const routes = {
  create: createRoute({
    method: 'post',
    path: '/api/shares',
    tags: ['shares'],
    summary: 'Create a share link for a photo or an album',
    request: { body: { required: true, content: { 'application/json': { schema: CreateShare } } } },
    responses: { 201: { description: 'Created', content: { 'application/json': { schema: ShareSchema } } }, ...errorResponses(400, 404) },
  }),
  list: createRoute({
    method: 'get',
    path: '/api/shares',
    tags: ['shares'],
    summary: 'List share links (with last_accessed_at)',
    responses: { 200: { description: 'All links, newest first', content: { 'application/json': { schema: z.object({ items: z.array(ShareSchema) }) } } } },
  }),
  revoke: createRoute({
    method: 'delete',
    path: '/api/shares/{id}',
    tags: ['shares'],
    summary: 'Revoke a share link',
    request: { params: IdParam },
    responses: { 204: { description: 'Revoked: the key answers 404 from now on' }, ...errorResponses(400, 404) },
  }),
  view: createRoute({
    method: 'get',
    path: '/s/{access_key}',
    tags: ['public'],
    summary: 'What a share link shows (public, no token)',
    description: 'A photo link: the photo. An album link: its photos in album order (paginated). No metadata: no prompt, EXIF, GPS or filename.',
    request: { params: KeyParam, query: PageQuery },
    responses: {
      200: { description: 'The shared content', content: { 'application/json': { schema: SharedView } } },
      ...errorResponses(400, 404, 410),
    },
  }),
  file: createRoute({
    method: 'get',
    path: '/s/{access_key}/photos/{photo_id}/file',
    tags: ['public'],
    summary: 'A shared photo, metadata stripped (public)',
    request: { params: KeyPhotoParams },
    responses: { 200: binary('The image without metadata'), 206: binary('A byte range'), ...errorResponses(400, 404, 409, 410) },
  }),
  thumbnail: createRoute({
    method: 'get',
    path: '/s/{access_key}/photos/{photo_id}/thumbnail',
    tags: ['public'],
    summary: "A shared photo's WebP thumbnail (public)",
    request: { params: KeyPhotoParams },
    responses: { 200: binary('image/webp'), ...errorResponses(400, 404, 409, 410) },
  }),
};

/** Links are short-lived and revocable: let caches keep shared files only briefly. */
const SHARED_CACHE = 'private, max-age=300';

/** Registers `/api/shares` and the public `/s/{access_key}` routes. */
export function registerShareRoutes(app: App, deps: AppDeps): void {
  const { db } = deps.database;
  const dataDir = deps.config.DATA_DIR;

  app.openapi(routes.create, async (c) => {
    const body = c.req.valid('json');
    const row = await createShare(db, {
      photoId: body.photo_id,
      albumId: body.album_id,
      expiresInSeconds: body.expires_in_seconds,
      expiresAt: body.expires_at ? new Date(body.expires_at) : undefined,
    });
    return c.json(shareView(row), 201);
  });

  app.openapi(routes.list, async (c) => c.json({ items: (await listShares(db)).map(shareView) }, 200));

  app.openapi(routes.revoke, async (c) => {
    await revokeShare(db, c.req.valid('param').id);
    return c.body(null, 204);
  });

  app.openapi(routes.view, async (c) => {
    const { access_key } = c.req.valid('param');
    const page = c.req.valid('query');
    const share = await openShare(db, access_key);
    const content = await sharedContent(db, share, page);
    const expires_at = iso(share.expiresAt);
    c.header('Cache-Control', 'no-store');
    if (content.type === 'photo') {
      return c.json({ type: 'photo' as const, expires_at, photo: sharedPhotoView(access_key, content.photo) }, 200);
    }
    return c.json(
      {
        type: 'album' as const,
        expires_at,
        album: content.album,
        photos: content.photos.map((p) => sharedPhotoView(access_key, p)),
        total: content.total,
        limit: page.limit,
        offset: page.offset,
      },
      200,
    );
  });

  app.openapi(routes.file, async (c) => {
    const { access_key, photo_id } = c.req.valid('param');
    const photo = await sharedPhoto(db, await openShare(db, access_key), photo_id);
    const copy = await ensureSharedCopy(dataDir, photo);
    return fileResponse(c.req.raw, copy.path, {
      contentType: copy.type.mime,
      cacheControl: SHARED_CACHE,
      filename: `${photo.id}.${copy.type.ext}`,
    }) as never;
  });

  app.openapi(routes.thumbnail, async (c) => {
    const { access_key, photo_id } = c.req.valid('param');
    const photo = await sharedPhoto(db, await openShare(db, access_key), photo_id);
    if (!photo.localThumbnailPath) throw notFound('thumbnail of photo', photo.id);
    // Thumbnails are written by sharp without metadata (makeThumbnail), so they are served as they are.
    return fileResponse(c.req.raw, resolveDataPath(dataDir, photo.localThumbnailPath), {
      contentType: 'image/webp',
      cacheControl: SHARED_CACHE,
      filename: `${photo.id}.webp`,
    }) as never;
  });
}

function shareView(row: ShareRow) {
  return {
    id: row.id,
    photo_id: row.photoId,
    album_id: row.albumId,
    access_key: row.accessKey,
    url: `/s/${row.accessKey}`,
    expires_at: iso(row.expiresAt),
    expired: Boolean(row.expiresAt && row.expiresAt.getTime() <= Date.now()),
    created_at: iso(row.createdAt),
    last_accessed_at: iso(row.lastAccessedAt),
  };
}

function sharedPhotoView(key: string, photo: PhotoRow) {
  const base = `/s/${key}/photos/${photo.id}`;
  return {
    id: photo.id,
    width: photo.width,
    height: photo.height,
    mime_type: sharedCopyType(photo).mime,
    file_url: `${base}/file`,
    thumbnail_url: `${base}/thumbnail`,
  };
}

/**
 * `/api/albums`: CRUD, the album's photos in position order, bulk add, remove, reorder, cover.
 */
import { createRoute, z } from '@hono/zod-openapi';
import {
  addPhotosToAlbum,
  createAlbum,
  deleteAlbum,
  getAlbum,
  listAlbumPhotos,
  listAlbums,
  removePhotoFromAlbum,
  reorderAlbumPhotos,
  updateAlbum,
  type AlbumWithCount,
} from '../../albums/service.js';
import { iso, photoUrls, photoView } from '../../photos/view.js';
import { errorResponses, IdParam, type App, type AppDeps } from '../http.js';
import { PhotoSchema } from './photos.js';

const AlbumSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    cover_photo_id: z.uuid().nullable(),
    cover_thumbnail_url: z.string().nullable(),
    photo_count: z.number().int(),
    created_at: z.string().nullable().openapi({ format: 'date-time' }),
    updated_at: z.string().nullable().openapi({ format: 'date-time' }),
  })
  .openapi('Album');

const name = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');
const description = z.string().max(5000).nullable().optional();
const CreateAlbum = z.strictObject({ name, description }).openapi('CreateAlbum');
const UpdateAlbum = z
  .strictObject({ name: name.optional(), description, cover_photo_id: z.uuid({ message: 'must be a UUID' }).nullable().optional() })
  .openapi('UpdateAlbum');
const PhotoIds = z.strictObject({ photo_ids: z.array(z.uuid({ message: 'must be a UUID' })).max(1000) });
const AddPhotos = PhotoIds.extend({ photo_ids: PhotoIds.shape.photo_ids.min(1) }).openapi('AddAlbumPhotos');
const OrderPhotos = PhotoIds.openapi('AlbumPhotoOrder');
const Page = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
const AlbumPhotoParams = IdParam.extend({
  photo_id: z.uuid({ message: 'must be a UUID' }).openapi({ param: { name: 'photo_id', in: 'path' } }),
});
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });

const routes = {
  create: createRoute({
    method: 'post',
    path: '/api/albums',
    tags: ['albums'],
    summary: 'Create an album',
    request: body(CreateAlbum),
    responses: { 201: json(AlbumSchema, 'Created'), ...errorResponses(400) },
  }),
  list: createRoute({
    method: 'get',
    path: '/api/albums',
    tags: ['albums'],
    summary: 'List albums, most recently changed first',
    request: { query: Page },
    responses: {
      200: json(z.object({ items: z.array(AlbumSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() }), 'One page'),
      ...errorResponses(400),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/api/albums/{id}',
    tags: ['albums'],
    summary: 'One album',
    request: { params: IdParam },
    responses: { 200: json(AlbumSchema, 'The album'), ...errorResponses(400, 404) },
  }),
  update: createRoute({
    method: 'patch',
    path: '/api/albums/{id}',
    tags: ['albums'],
    summary: 'Rename, describe, or set the cover (a photo of the album; null clears it)',
    request: { params: IdParam, ...body(UpdateAlbum) },
    responses: { 200: json(AlbumSchema, 'The album'), ...errorResponses(400, 404) },
  }),
  delete: createRoute({
    method: 'delete',
    path: '/api/albums/{id}',
    tags: ['albums'],
    summary: 'Delete an album and its share links (the photos stay)',
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 404) },
  }),
  photos: createRoute({
    method: 'get',
    path: '/api/albums/{id}/photos',
    tags: ['albums'],
    summary: "The album's photos in position order",
    request: { params: IdParam, query: Page },
    responses: {
      200: json(
        z.object({ items: z.array(PhotoSchema), total: z.number().int(), limit: z.number().int(), offset: z.number().int() }).openapi('AlbumPhotoPage'),
        'One page',
      ),
      ...errorResponses(400, 404),
    },
  }),
  add: createRoute({
    method: 'post',
    path: '/api/albums/{id}/photos',
    tags: ['albums'],
    summary: 'Append photos in the given order (already present ones are skipped; any unknown id → 400, nothing added)',
    request: { params: IdParam, ...body(AddPhotos) },
    responses: {
      200: json(z.object({ added: z.array(z.uuid()), album: AlbumSchema }), 'The ids added, in order'),
      ...errorResponses(400, 404),
    },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/api/albums/{id}/photos/{photo_id}',
    tags: ['albums'],
    summary: 'Take a photo out of the album',
    request: { params: AlbumPhotoParams },
    responses: { 204: { description: 'Removed' }, ...errorResponses(400, 404) },
  }),
  order: createRoute({
    method: 'put',
    path: '/api/albums/{id}/photos/order',
    tags: ['albums'],
    summary: "Set the order of the album's photos (exactly the album's photos, each once)",
    request: { params: IdParam, ...body(OrderPhotos) },
    responses: { 204: { description: 'Reordered' }, ...errorResponses(400, 404) },
  }),
};

/** Registers the `/api/albums` routes. */
export function registerAlbumRoutes(app: App, deps: AppDeps): void {
  const { db } = deps.database;

  app.openapi(routes.create, async (c) => c.json(albumView(await createAlbum(db, c.req.valid('json'))), 201));

  app.openapi(routes.list, async (c) => {
    const page = c.req.valid('query');
    const { items, total } = await listAlbums(db, page);
    return c.json({ items: items.map(albumView), total, ...page }, 200);
  });

  app.openapi(routes.get, async (c) => c.json(albumView(await getAlbum(db, c.req.valid('param').id)), 200));

  app.openapi(routes.update, async (c) => {
    const p = c.req.valid('json');
    const album = await updateAlbum(db, c.req.valid('param').id, { name: p.name, description: p.description, coverPhotoId: p.cover_photo_id });
    return c.json(albumView(album), 200);
  });

  app.openapi(routes.delete, async (c) => {
    await deleteAlbum(db, c.req.valid('param').id);
    return c.body(null, 204);
  });

  app.openapi(routes.photos, async (c) => {
    const page = c.req.valid('query');
    const { items, total } = await listAlbumPhotos(db, c.req.valid('param').id, page);
    return c.json({ items: items.map(photoView), total, ...page }, 200);
  });

  app.openapi(routes.add, async (c) => {
    const { added, album } = await addPhotosToAlbum(db, c.req.valid('param').id, c.req.valid('json').photo_ids);
    return c.json({ added, album: albumView(album) }, 200);
  });

  app.openapi(routes.remove, async (c) => {
    const { id, photo_id } = c.req.valid('param');
    await removePhotoFromAlbum(db, id, photo_id);
    return c.body(null, 204);
  });

  app.openapi(routes.order, async (c) => {
    await reorderAlbumPhotos(db, c.req.valid('param').id, c.req.valid('json').photo_ids);
    return c.body(null, 204);
  });
}

function albumView(a: AlbumWithCount) {
  return {
    id: a.id,
    name: a.name,
    description: a.description,
    cover_photo_id: a.coverPhotoId,
    cover_thumbnail_url: a.coverPhotoId ? photoUrls(a.coverPhotoId).thumbnail_url : null,
    photo_count: a.photoCount,
    created_at: iso(a.createdAt),
    updated_at: iso(a.updatedAt),
  };
}

/**
 * The photo library: listing with filters and keyset pagination, one photo, soft delete and
 * restore, and the checks in front of serving a photo's files or retrying its retrieval.
 */
import { and, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { albumPhotos, photos } from '../db/schema.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { PhotoRow } from './upload.js';

/** `GET /api/photos` filters, parsed. `limit` 1–200, `offset` ≥ 0. */
export interface ListPhotosQuery {
  limit: number;
  offset: number;
  /** opaque keyset cursor from a previous page's `nextCursor`; when set, `offset` is not applied */
  cursor?: string;
  generated?: boolean;
  albumId?: string;
  sort: 'newest' | 'oldest';
  /** full-text search over `generation_prompt` (English stemming, web-search syntax) */
  q?: string;
  includeDeleted: boolean;
}

/** One page: rows, the total matching the filters, and the cursor of the next page (null at the end). */
export interface PhotoPage {
  items: PhotoRow[];
  /** exact up to `EXACT_COUNT_LIMIT`, PostgreSQL's planner estimate above it (`totalIsEstimate`) */
  total: number;
  totalIsEstimate: boolean;
  limit: number;
  offset: number;
  nextCursor: string | null;
}

/** created_at at microsecond precision (a JS Date would drop the µs and skip rows). */
const createdAtText = sql<string>`to_char(${photos.createdAt} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * Lists photos, newest first by default. Ordering is `created_at, id` in the direction of the
 * `idx_photos_created_at_id` index, so keyset pages (`cursor`) are index range scans.
 * @throws AppError `validation_error` for a cursor this function did not produce
 */
export async function listPhotos(db: Db, query: ListPhotosQuery): Promise<PhotoPage> {
  const filters: SQL[] = [];
  if (!query.includeDeleted) filters.push(isNull(photos.deletedAt));
  if (query.generated !== undefined) {
    filters.push(query.generated ? eq(photos.isGenerated, true) : sql`${photos.isGenerated} IS NOT TRUE`);
  }
  if (query.albumId) {
    filters.push(
      sql`EXISTS (SELECT 1 FROM ${albumPhotos} WHERE ${albumPhotos.photoId} = ${photos.id} AND ${albumPhotos.albumId} = ${query.albumId})`,
    );
  }
  if (query.q) {
    // Written exactly as the GIN index expression so the planner uses idx_photos_generation_prompt.
    filters.push(sql`to_tsvector('english', ${photos.generationPrompt}) @@ websearch_to_tsquery('english', ${query.q})`);
  }
  const newest = query.sort === 'newest';
  const pageFilters = [...filters];
  if (query.cursor) {
    const [ts, id] = decodeCursor(query.cursor);
    pageFilters.push(
      newest
        ? sql`(${photos.createdAt}, ${photos.id}) < (${ts}::timestamptz, ${id}::uuid)`
        : sql`(${photos.createdAt}, ${photos.id}) > (${ts}::timestamptz, ${id}::uuid)`,
    );
  }
  const order = newest
    ? [sql`${photos.createdAt} DESC NULLS LAST`, sql`${photos.id} DESC NULLS LAST`]
    : [sql`${photos.createdAt} ASC NULLS FIRST`, sql`${photos.id} ASC NULLS FIRST`];

  const [rows, counted] = await Promise.all([
    db
      .select({ photo: photos, ts: createdAtText })
      .from(photos)
      .where(and(...pageFilters))
      .orderBy(...order)
      .limit(query.limit + 1)
      .offset(query.cursor ? 0 : query.offset),
    countPhotos(db, and(...filters) ?? sql`true`),
  ]);
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => r.photo),
    total: counted.total,
    totalIsEstimate: counted.estimate,
    limit: query.limit,
    offset: query.cursor ? 0 : query.offset,
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.ts, last.photo.id) : null,
  };
}

/** Above this many matching rows `total` is the planner's estimate: an exact count(*) of a million rows costs more than the page. */
export const EXACT_COUNT_LIMIT = 10_000;

/**
 * Counts the photos matching `where`: exactly while there are at most `EXACT_COUNT_LIMIT` (a
 * bounded scan), else PostgreSQL's estimate from `EXPLAIN` (statistics, no scan).
 */
async function countPhotos(db: Db, where: SQL): Promise<{ total: number; estimate: boolean }> {
  const [bounded] = await db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${photos} WHERE ${where} LIMIT ${EXACT_COUNT_LIMIT + 1}) AS matching`,
  );
  const n = Number(bounded?.n ?? 0);
  if (n <= EXACT_COUNT_LIMIT) return { total: n, estimate: false };
  const [plan] = await db.execute<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(
    sql`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${photos} WHERE ${where}`,
  );
  const estimated = plan?.['QUERY PLAN']?.[0]?.Plan['Plan Rows'] ?? n;
  return { total: Math.max(Math.round(estimated), n), estimate: true };
}

function encodeCursor(ts: string, id: string): string {
  return Buffer.from(JSON.stringify([ts, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      typeof v[0] === 'string' &&
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(v[0]) &&
      typeof v[1] === 'string' &&
      /^[0-9a-f-]{36}$/i.test(v[1])
    ) {
      return [v[0], v[1]];
    }
  } catch {
    // fall through
  }
  throw badRequest('cursor: not a cursor returned by this API');
}

/**
 * One photo by id.
 * @throws AppError `not_found` when absent, or soft-deleted unless `includeDeleted`
 */
export async function getPhoto(db: Db, id: string, options: { includeDeleted?: boolean } = {}): Promise<PhotoRow> {
  const rows = await db.select().from(photos).where(eq(photos.id, id));
  const row = rows[0];
  if (!row || (row.deletedAt && !options.includeDeleted)) throw notFound('photo', id);
  return row;
}

/**
 * Moves a photo to the trash (`deleted_at = now`); deleting one already there changes nothing.
 * @throws AppError `not_found` when there is no such photo
 */
export async function deletePhoto(db: Db, id: string): Promise<void> {
  const rows = await db
    .update(photos)
    .set({ deletedAt: sql`COALESCE(${photos.deletedAt}, CURRENT_TIMESTAMP)` })
    .where(eq(photos.id, id))
    .returning({ id: photos.id });
  if (!rows[0]) throw notFound('photo', id);
}

/**
 * Takes a photo out of the trash.
 * @throws AppError `not_found` when there is no such photo, `conflict` when its files were purged
 */
export async function restorePhoto(db: Db, id: string): Promise<PhotoRow> {
  const row = await getPhoto(db, id, { includeDeleted: true });
  if (row.purgedAt) throw conflict(`photo ${id} was purged; its files are gone`);
  const rows = await db.update(photos).set({ deletedAt: null }).where(eq(photos.id, id)).returning();
  return rows[0]!;
}

/**
 * The photo whose file or thumbnail is about to be served: present, not deleted, files in place.
 * @throws AppError `not_found` (absent, deleted or purged), `conflict` with `retrieval_status` when a
 *   generated photo's retrieval from InvokeAI is not complete
 */
export async function getServablePhoto(db: Db, id: string): Promise<PhotoRow> {
  const row = await getPhoto(db, id);
  if (row.purgedAt) throw notFound('photo', id);
  if (row.retrievalStatus !== 'completed' || !row.localStoragePath) {
    const status = row.retrievalStatus ?? 'pending';
    throw conflict(`photo ${id} is not retrieved yet (retrieval_status ${status})`, { retrieval_status: status });
  }
  return row;
}

/**
 * Checks that photo `id` is a generated photo whose retrieval failed, i.e. one whose retry may be
 * started.
 * @throws AppError `not_found` when absent/deleted, `validation_error` (with `retrieval_status`) otherwise
 */
export async function assertRetrievalRetryable(db: Db, id: string): Promise<PhotoRow> {
  const row = await getPhoto(db, id);
  if (!row.isGenerated || row.retrievalStatus !== 'failed') {
    throw badRequest(`photo ${id} is not a generated photo whose retrieval failed`, { retrieval_status: row.retrievalStatus });
  }
  return row;
}

/** Photos by id that exist and are not deleted, for membership checks. */
export async function existingPhotoIds(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: photos.id })
    .from(photos)
    .where(and(inArray(photos.id, ids), isNull(photos.deletedAt)));
  return new Set(rows.map((r) => r.id));
}

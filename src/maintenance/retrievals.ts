/**
 * Which generated photos the failed-retrieval schedule retries: `retrieval_status = 'failed'`,
 * attempts left (`retrieval_attempts < max_retrieval_attempts`), an InvokeAI image name to fetch,
 * not in the trash. Photos `pending` or `processing` belong to a step (or a retry) still at work
 * and are never returned, so the schedule does not race them.
 */
import { and, asc, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { photos } from '../db/schema.js';
import { getSettings } from '../settings/service.js';

/** Photos the schedule retries in one run at most (the rest wait for the next minute). */
export const RETRY_BATCH_LIMIT = 50;

/**
 * Ids of the photos to retry, oldest attempt first, at most `limit`.
 * @throws the database error
 */
export async function findRetryableRetrievals(db: Db, limit = RETRY_BATCH_LIMIT): Promise<string[]> {
  const max = (await getSettings(db)).maxRetrievalAttempts ?? 5;
  const rows = await db
    .select({ id: photos.id })
    .from(photos)
    .where(
      and(
        eq(photos.retrievalStatus, 'failed'),
        lt(sql`COALESCE(${photos.retrievalAttempts}, 0)`, max),
        isNotNull(photos.invokeId),
        isNull(photos.deletedAt),
        isNull(photos.purgedAt),
      ),
    )
    .orderBy(sql`${photos.lastRetrievalAttempt} ASC NULLS FIRST`, asc(photos.id))
    .limit(limit);
  return rows.map((r) => r.id);
}

/**
 * Share links past their expiry are kept for a while (so an opened link answers 410 "expired",
 * not 404), then deleted by the maintenance schedule.
 */
import { and, isNotNull, lt } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sharedLinks } from '../db/schema.js';
import { getSettings } from '../settings/service.js';
import { cutoff, retentionDays } from './retention.js';

/** What `expireShareLinks` did. */
export interface ExpireShareLinksResult {
  /** links deleted */
  deleted: number;
  /** the retention applied, days after `expires_at` */
  retentionDays: number;
}

/**
 * Deletes the links whose `expires_at` is more than the retention (`settings_json.share_link_retention_days`,
 * default 30) in the past. Links without an expiry are never touched. Idempotent.
 * @param now the clock (tests move it)
 * @throws the database error
 */
export async function expireShareLinks(db: Db, now = new Date()): Promise<ExpireShareLinksResult> {
  const days = retentionDays(await getSettings(db), 'share_link_retention_days');
  const rows = await db
    .delete(sharedLinks)
    .where(and(isNotNull(sharedLinks.expiresAt), lt(sharedLinks.expiresAt, cutoff(now, days))))
    .returning({ id: sharedLinks.id });
  return { deleted: rows.length, retentionDays: days };
}

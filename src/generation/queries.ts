/**
 * Catalog reads shared by the generation API and its activities.
 */
import { and, eq, isNotNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { photos, stepAlternatives } from '../db/schema.js';

/** Ids of a step's photos whose retrieval failed and that can be fetched again (they have an InvokeAI image_name). */
export async function failedPhotoIdsOfStep(db: Db, stepId: string): Promise<string[]> {
  const rows = await db
    .select({ id: photos.id })
    .from(stepAlternatives)
    .innerJoin(photos, eq(photos.id, stepAlternatives.imageId))
    .where(and(eq(stepAlternatives.stepId, stepId), eq(photos.retrievalStatus, 'failed'), isNotNull(photos.invokeId)));
  return rows.map((r) => r.id);
}

/**
 * Reads of the model cache (`models` table), for the API and for building generation graphs.
 * Models marked missing (`missing_at`) are left out unless asked for.
 */
import { and, asc, desc, eq, isNull, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { models } from '../db/schema.js';

/** A `models` row. */
export type ModelRow = typeof models.$inferSelect;

/** The cached model `key`, missing or not; `undefined` when unknown. */
export async function getModel(db: Db, key: string): Promise<ModelRow | undefined> {
  const [row] = await db.select().from(models).where(eq(models.key, key)).limit(1);
  return row;
}

/**
 * Cached models, favourites first, then by name.
 * @param filter.type e.g. `main`, `vae`; filter.base e.g. `sdxl`; filter.includeMissing default false
 */
export async function listModels(
  db: Db,
  filter: { type?: string; base?: string; includeMissing?: boolean } = {},
): Promise<ModelRow[]> {
  const where: SQL[] = [];
  if (filter.type) where.push(eq(models.type, filter.type));
  if (filter.base) where.push(eq(models.base, filter.base));
  if (!filter.includeMissing) where.push(isNull(models.missingAt));
  return db
    .select()
    .from(models)
    .where(and(...where))
    .orderBy(desc(models.isFavorite), asc(models.name), asc(models.key));
}

/** VAEs usable with a `base` (not missing), the base's default VAE first, then by name. */
export async function compatibleVaes(db: Db, base: string): Promise<ModelRow[]> {
  return db
    .select()
    .from(models)
    .where(and(eq(models.type, 'vae'), eq(models.compatibleWithBase, base), isNull(models.missingAt)))
    .orderBy(desc(models.isDefaultVae), asc(models.name), asc(models.key));
}

/**
 * The separate VAE a generation with `model` should use: the VAE its `default_settings.vae`
 * names (`default_vae_key`), when cached, present and of the same base; otherwise `undefined`
 * and the graph uses the loader's own VAE (reference §9). Pass the result as the builders' `vae`.
 */
export async function defaultVaeForModel(
  db: Db,
  model: Pick<ModelRow, 'defaultVaeKey' | 'base'>,
): Promise<ModelRow | undefined> {
  if (!model.defaultVaeKey) return undefined;
  const vae = await getModel(db, model.defaultVaeKey);
  return vae && vae.type === 'vae' && vae.missingAt === null && vae.base === model.base ? vae : undefined;
}

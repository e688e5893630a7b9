/**
 * The model cache: `refreshModels()` mirrors InvokeAI's `GET /api/v2/models/` into the `models`
 * table. Called by the refresh activity (schedule) and the API alike.
 */
import { and, eq, inArray, isNull, notInArray, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { models } from '../db/schema.js';
import type { InvokeAIClient } from '../invokeai/client.js';
import { MainModelDefaultSettingsSchema, type ModelConfig } from '../invokeai/schemas.js';

/** What a refresh did. */
export interface RefreshModelsResult {
  /** models listed by InvokeAI, inserted or updated */
  upserted: number;
  /** models newly marked missing (gone from InvokeAI; rows kept for past steps) */
  missing: number;
  /** previously missing models that are back */
  returned: number;
  /** base → key of the VAE now flagged `is_default_vae` */
  defaultVaes: Record<string, string>;
}

/**
 * Upserts every model InvokeAI lists (`GET /api/v2/models/`) into `models`, in one transaction:
 * - key, hash, name, type, base, description; for main models `default_settings` → default_width /
 *   default_height / default_steps / default_cfg_scale / default_scheduler and `default_vae_key`
 *   (from `default_settings.vae`); `compatible_with_base` = base for VAEs;
 * - exactly one `is_default_vae` per base that has VAEs (the seed rule: the first, by name, whose
 *   name contains "fp16", else the first by name);
 * - keeps `is_favorite` and `last_used_at`; sets `missing_at` on models InvokeAI no longer lists
 *   (never deletes: past steps reference them) and clears it when they come back.
 * Idempotent: a second run with the same list changes nothing but `cached_at`.
 * @throws the client's InvokeAIError when InvokeAI cannot be read (nothing is written then)
 * @example const { upserted, missing } = await refreshModels(db, getInvokeAIClient(url));
 */
export async function refreshModels(db: Db, client: Pick<InvokeAIClient, 'listModels'>): Promise<RefreshModelsResult> {
  const configs = dedupe(await client.listModels());
  const now = new Date();
  return db.transaction(async (tx) => {
    const keys = configs.map((c) => c.key);
    const wasMissing = keys.length
      ? await tx
          .select({ key: models.key })
          .from(models)
          .where(and(inArray(models.key, keys), sql`${models.missingAt} IS NOT NULL`))
      : [];

    if (configs.length > 0) {
      await tx
        .insert(models)
        .values(configs.map((c) => toRow(c, now)))
        .onConflictDoUpdate({
          target: models.key,
          set: {
            hash: sql`excluded.hash`,
            name: sql`excluded.name`,
            type: sql`excluded.type`,
            base: sql`excluded.base`,
            description: sql`excluded.description`,
            defaultWidth: sql`excluded.default_width`,
            defaultHeight: sql`excluded.default_height`,
            defaultSteps: sql`excluded.default_steps`,
            defaultCfgScale: sql`excluded.default_cfg_scale`,
            defaultScheduler: sql`excluded.default_scheduler`,
            defaultVaeKey: sql`excluded.default_vae_key`,
            compatibleWithBase: sql`excluded.compatible_with_base`,
            cachedAt: sql`excluded.cached_at`,
            missingAt: sql`NULL`,
          },
        });
    }

    const gone = await tx
      .update(models)
      .set({ missingAt: now, isDefaultVae: false })
      .where(and(isNull(models.missingAt), keys.length ? notInArray(models.key, keys) : sql`TRUE`))
      .returning({ key: models.key });

    const defaultVaes = pickDefaultVaes(configs);
    const chosen = Object.values(defaultVaes);
    const isChosen = chosen.length > 0 ? inArray(models.key, chosen) : sql`FALSE`;
    await tx
      .update(models)
      .set({ isDefaultVae: isChosen })
      .where(or(eq(models.isDefaultVae, true), isChosen));

    return { upserted: configs.length, missing: gone.length, returned: wasMissing.length, defaultVaes };
  });
}

/** base → default VAE key: first by name containing "fp16" (case-insensitive), else first by name. */
export function pickDefaultVaes(configs: Pick<ModelConfig, 'key' | 'name' | 'type' | 'base'>[]): Record<string, string> {
  const byBase = new Map<string, Pick<ModelConfig, 'key' | 'name'>[]>();
  for (const c of configs) {
    if (c.type !== 'vae') continue;
    byBase.set(c.base, [...(byBase.get(c.base) ?? []), c]);
  }
  const out: Record<string, string> = {};
  for (const [base, vaes] of byBase) {
    const sorted = [...vaes].sort((a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
    out[base] = (sorted.find((v) => /fp16/i.test(v.name)) ?? sorted[0]!).key;
  }
  return out;
}

function toRow(c: ModelConfig, now: Date): typeof models.$inferInsert {
  const settings = c.type === 'main' ? MainModelDefaultSettingsSchema.safeParse(c.default_settings ?? {}) : undefined;
  const d = settings?.success ? settings.data : {};
  return {
    key: c.key,
    hash: c.hash,
    name: c.name,
    type: c.type,
    base: c.base,
    description: c.description ?? null,
    defaultWidth: d.width ?? null,
    defaultHeight: d.height ?? null,
    defaultSteps: d.steps ?? null,
    defaultCfgScale: d.cfg_scale ?? null,
    defaultScheduler: d.scheduler ?? null,
    defaultVaeKey: d.vae ?? null,
    compatibleWithBase: c.type === 'vae' ? c.base : null,
    cachedAt: now,
    missingAt: null,
  };
}

function dedupe(configs: ModelConfig[]): ModelConfig[] {
  return [...new Map(configs.map((c) => [c.key, c])).values()];
}

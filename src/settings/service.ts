/**
 * The `application_settings` singleton (id = 1): reading it, and the rules that combine it with
 * the environment.
 */
import { eq } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { applicationSettings } from '../db/schema.js';

/** The settings row as drizzle returns it (camelCase fields). */
export type Settings = typeof applicationSettings.$inferSelect;

/**
 * Reads the settings row; creates it with the seed defaults if it is somehow missing.
 * @throws the database error
 */
export async function getSettings(db: Db): Promise<Settings> {
  const rows = await db.select().from(applicationSettings).where(eq(applicationSettings.id, 1));
  if (rows[0]) return rows[0];
  await db.insert(applicationSettings).values({ id: 1 }).onConflictDoNothing();
  return (await db.select().from(applicationSettings).where(eq(applicationSettings.id, 1)))[0]!;
}

/**
 * The local InvokeAI base URL: `INVOKEAI_LOCAL_URL` when set in the environment, otherwise the
 * settings' `local_backend_url` (seed default `http://localhost:9090`).
 */
export function invokeaiLocalUrl(settings: Pick<Settings, 'localBackendUrl'>, config: Pick<Config, 'INVOKEAI_LOCAL_URL'>): string {
  return config.INVOKEAI_LOCAL_URL ?? settings.localBackendUrl;
}

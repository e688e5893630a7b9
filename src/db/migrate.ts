/**
 * Applies the SQL migrations in `migrations/` and creates the settings singleton, under a
 * PostgreSQL advisory lock so that processes starting together take turns. Idempotent.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';

/** The migrations folder of this checkout. */
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

/** Arbitrary constant: the advisory lock key every photo-gallery process uses for migrations. */
const MIGRATION_LOCK_KEY = 724_311_901;

/**
 * Runs pending migrations on `url`, then inserts the `application_settings` row (id 1) with the
 * seed defaults if it is missing.
 * @throws the database error when a migration fails (nothing after it is applied)
 */
export async function runMigrations(url: string): Promise<void> {
  // One dedicated connection: advisory locks belong to the session that took them.
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_DIR });
      await sql`INSERT INTO application_settings (id) VALUES (1) ON CONFLICT (id) DO NOTHING`;
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

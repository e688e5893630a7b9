/**
 * A fresh, migrated PostgreSQL database per test file, on the server `npm test` provides
 * (`DATABASE_URL` = an admin URL; scripts/test.ts sets it). Dropped by `drop()`.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase, type Database } from '../../src/db/client.js';
import { runMigrations } from '../../src/db/migrate.js';
import { parseConfig } from '../../src/config.js';

/** A test database: its URL, an open pool, and `drop()` which closes the pool and drops it. */
export interface TestDatabase {
  url: string;
  database: Database;
  drop(): Promise<void>;
}

/**
 * Creates `test_<random>` on the server behind `DATABASE_URL` and applies the migrations.
 * @throws Error when DATABASE_URL is not set (run through `npm test`, or `source /tmp/dev-env.sh`)
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = parseConfig().DATABASE_URL;
  if (!adminUrl) throw new Error('DATABASE_URL is not set: run the tests with `npm test`');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end({ timeout: 5 });
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  await runMigrations(url);
  const database = openDatabase(url);
  return {
    url,
    database,
    async drop() {
      await database.close();
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end({ timeout: 5 });
    },
  };
}

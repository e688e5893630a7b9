/**
 * The database handle: postgres.js under drizzle-orm. One pool per process.
 */
import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema.js';

/** Drizzle database typed with our schema, plus the raw postgres.js `sql` for catalog queries. */
export type Db = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

/** A connected database: `db` for queries, `sql` for raw SQL, `close()` to end the pool. */
export interface Database {
  db: Db;
  sql: postgres.Sql;
  close(): Promise<void>;
}

/**
 * Opens a pool to `url` (a `postgres://` URL). Connections are made lazily; nothing is sent until
 * the first query.
 * @param options.max pool size (default 10)
 */
export function openDatabase(url: string, options: { max?: number } = {}): Database {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // numeric columns come back as strings by default; drizzle's numeric(mode:'number') converts.
  });
  const db = drizzle(sql, { schema }) as Db;
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}

export { schema };

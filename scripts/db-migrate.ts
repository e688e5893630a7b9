/**
 * `npm run db:migrate`: applies pending migrations to DATABASE_URL (required here: the embedded
 * database is migrated by `npm start` itself).
 */
import { config } from '../src/config.js';
import { runMigrations } from '../src/db/migrate.js';

const cfg = config();
if (!cfg.DATABASE_URL) {
  process.stderr.write('photo-gallery: DATABASE_URL must be set for db:migrate (npm start migrates the embedded database itself)\n');
  process.exit(2);
}
await runMigrations(cfg.DATABASE_URL);
console.log('migrations applied');

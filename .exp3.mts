import { createTestDatabase } from './test/helpers/db.js';
import { listPhotos } from './src/photos/library.js';
const t = await createTestDatabase();
const { sql, db } = t.database;
await sql`INSERT INTO photos (filename,width,height,file_size,mime_type,created_at) SELECT 'f'||g, 200,200,1,'image/png', now() - (g||' minutes')::interval FROM generate_series(1,20000) g`;
await sql`ANALYZE photos`;
const p = await listPhotos(db, { limit: 50, offset: 0, sort: 'newest', includeDeleted: false });
for (const q of [
  `EXPLAIN SELECT * FROM photos WHERE deleted_at IS NULL ORDER BY created_at DESC NULLS LAST, id DESC NULLS LAST LIMIT 51`,
  `EXPLAIN SELECT * FROM photos WHERE deleted_at IS NULL AND (created_at, id) < ('${new Date(Date.now()-3600e3).toISOString()}'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid) ORDER BY created_at DESC NULLS LAST, id DESC NULLS LAST LIMIT 51`,
  `EXPLAIN SELECT * FROM photos WHERE deleted_at IS NULL ORDER BY created_at ASC NULLS FIRST, id ASC NULLS FIRST LIMIT 51`,
]) console.log((await sql.unsafe(q)).map((r: any) => r['QUERY PLAN']).join('\n'), '\n');
console.log(p.items.length, p.total, p.nextCursor);
await t.drop();

/**
 * Benchmark `library-api`: `GET /api/photos` at 1,000,000 photo rows — the first page
 * (`limit=50`), a deep keyset page (`cursor` 900,000 rows in) and a prompt search (`q=`) — under
 * autocannon (a separate process, loopback, 10 connections) → p50/p99 and requests/s. Ratio, same
 * run: the same query function (`listPhotos`, the SQL the route runs) called directly at the same
 * concurrency, no HTTP. Rows are seeded with `INSERT … SELECT generate_series` (indexes rebuilt
 * after the load, as a restore would) into a database of its own, dropped at the end.
 * Targets: list p99 ≤ 15 ms, search p99 ≤ 40 ms.
 *
 *   npm run bench -- library-api
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { listPhotos, type ListPhotosQuery } from '../src/photos/library.js';
import { startTestApp } from '../test/helpers/app.js';
import { percentile, report, round } from './lib/report.js';

const ROWS = 1_000_000;
const CONNECTIONS = 10;
const API_SECONDS = 8;
const DIRECT_SECONDS = 5;
const AUTOCANNON = path.resolve(import.meta.dirname, '../node_modules/.bin/autocannon');

const t = await startTestApp();
const { sql, db } = t.deps.database;
try {
  const s0 = Date.now();
  await seed();
  const seedMs = Date.now() - s0;
  console.log(`seeded ${ROWS} photos in ${seedMs} ms`);

  const [deep] = await sql<{ ts: string; id: string }[]>`
    SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, id FROM photos
    ORDER BY created_at DESC, id DESC OFFSET 900000 LIMIT 1`;
  const cursor = Buffer.from(JSON.stringify([deep!.ts, deep!.id])).toString('base64url');
  const base: ListPhotosQuery = { limit: 50, offset: 0, sort: 'newest', includeDeleted: false };
  const cases = [
    { key: 'first_page', url: '/api/photos?limit=50', query: base, p99TargetMs: 15, count: () => sql`SELECT count(*) FROM photos WHERE deleted_at IS NULL` },
    { key: 'deep_keyset_page', url: `/api/photos?limit=50&cursor=${cursor}`, query: { ...base, cursor }, p99TargetMs: 15, count: () => sql`SELECT count(*) FROM photos WHERE deleted_at IS NULL` },
    {
      key: 'search',
      url: '/api/photos?limit=50&q=lighthouse%20fog',
      query: { ...base, q: 'lighthouse fog' },
      p99TargetMs: 40,
      count: () => sql`SELECT count(*) FROM photos WHERE deleted_at IS NULL AND to_tsvector('english', generation_prompt) @@ websearch_to_tsquery('english', 'lighthouse fog')`,
    },
  ];

  const figures: Record<string, unknown> = { rows: ROWS, seed_ms: seedMs, connections: CONNECTIONS };
  const targets = [];
  const ratios: number[] = [];
  for (const c of cases) {
    const check = await fetch(t.url + c.url);
    const body = (await check.json()) as { items: unknown[] };
    if (check.status !== 200 || body.items.length === 0) throw new Error(`${c.url}: ${check.status} ${JSON.stringify(body).slice(0, 200)}`);
    // Alone, one at a time: the whole query function, and its `total` count on its own.
    const serial = await timeOnce(() => listPhotos(db, c.query));
    const countOnly = await timeOnce(() => c.count()); // a fresh query each time: postgres.js caches a finished one
    const api = await autocannon(t.url + c.url);
    const direct = await directLoop(() => listPhotos(db, c.query));
    const ratio = api.rps / direct.rps;
    ratios.push(ratio);
    figures[c.key] = {
      api_p50_ms: api.p50, api_p99_ms: api.p99, api_requests_per_s: round(api.rps), api_errors: api.errors,
      sql_p50_ms: round(direct.p50, 2), sql_p99_ms: round(direct.p99, 2), sql_queries_per_s: round(direct.rps),
      ratio_api_to_sql_throughput: round(ratio, 3),
      sql_alone_ms: round(serial, 2), exact_count_would_cost_ms: round(countOnly, 2),
    };
    targets.push({ what: `${c.key} p99 <= ${c.p99TargetMs} ms`, met: api.p99 <= c.p99TargetMs });
  }
  await report('library-api', { ratio: round(Math.min(...ratios), 3), ...figures }, targets);
} finally {
  await t.close(); // drops the database with its million rows
}

/** Loads ROWS photos: a third generated with prompts built from word lists (for the full-text index). */
async function seed(): Promise<void> {
  // Rebuilt after the load exactly as the migration defines them (a hand-written copy once differed
  // in NULLS order, and the planner then sorted a million rows for every page).
  const indexes = await sql<{ indexdef: string }[]>`
    SELECT indexdef FROM pg_indexes WHERE tablename = 'photos' AND indexname IN ('idx_photos_generation_prompt', 'idx_photos_created_at_id')`;
  await sql`DROP INDEX IF EXISTS idx_photos_generation_prompt`;
  await sql`DROP INDEX IF EXISTS idx_photos_created_at_id`;
  await sql`
    INSERT INTO photos (id, filename, width, height, file_size, mime_type, created_at, is_generated, generation_prompt, retrieval_status, local_storage_path, local_thumbnail_path)
    SELECT gen_random_uuid(), 'bench-' || i || '.jpg', 1024, 1024, 1500000 + (i % 1000) * 1000,
      CASE WHEN i % 3 = 0 THEN 'image/png' ELSE 'image/jpeg' END,
      now() - (i * interval '1 second') - ((i % 997) * interval '1 microsecond'),
      i % 3 = 0,
      CASE WHEN i % 3 = 0 THEN
        (ARRAY['a lighthouse','a red fox','an old sailing ship','a mountain village','a portrait of an astronaut','a bowl of ramen','a cyberpunk street','a cat on a windowsill','a misty forest','a desert caravan','a koi pond','a steam locomotive'])[1 + i % 12]
        || ' ' || (ARRAY['at dusk','in heavy fog','under the northern lights','in the rain','at golden hour','in winter','at midnight','in spring bloom'])[1 + (i / 12) % 8]
        || ', ' || (ARRAY['oil painting','35mm photo','watercolor','volumetric light','studio ghibli style','hyperrealistic','low poly','ink sketch','cinematic lighting','matte painting'])[1 + (i / 96) % 10]
        || ', ' || (ARRAY['highly detailed','8k','soft focus','dramatic','pastel colors','wide angle'])[1 + (i / 960) % 6]
      END,
      'completed', 'photos/uploaded/2025-01-01/' || i || '.jpg', 'photos/thumbnails/uploaded/2025-01-01/' || i || '.webp'
    FROM generate_series(1, ${ROWS}) AS i`;
  for (const { indexdef } of indexes) await sql.unsafe(indexdef);
  await sql`VACUUM ANALYZE photos`;
}

/** autocannon against `url` in its own process; latencies in ms. */
async function autocannon(url: string): Promise<{ p50: number; p99: number; rps: number; errors: number }> {
  const { stdout } = await promisify(execFile)(AUTOCANNON, ['-j', '-c', String(CONNECTIONS), '-d', String(API_SECONDS), url], { maxBuffer: 16 * 2 ** 20 });
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
    latency: { p50: number; p99: number };
    requests: { average: number };
    errors: number;
    non2xx: number;
  };
  return { p50: r.latency.p50, p99: r.latency.p99, rps: r.requests.average, errors: r.errors + r.non2xx };
}

/** The best of 3 single runs of `fn`, ms. */
async function timeOnce(fn: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const s = performance.now();
    await fn();
    best = Math.min(best, performance.now() - s);
  }
  return best;
}

/** `fn` run by CONNECTIONS concurrent loops for DIRECT_SECONDS; latencies in ms. */
async function directLoop(fn: () => Promise<unknown>): Promise<{ p50: number; p99: number; rps: number }> {
  const latencies: number[] = [];
  const end = performance.now() + DIRECT_SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await fn();
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rps: latencies.length / ((performance.now() - t0) / 1000) };
}

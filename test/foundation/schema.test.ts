/**
 * The seed schema (shared/seeds/000) read back from PostgreSQL's catalogs after the migrations:
 * every table, column (type, NOT NULL, default), CHECK, foreign key with its ON DELETE rule, and
 * index (columns or expression, partial predicate, method).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runMigrations } from '../../src/db/migrate.js';

type Col = [name: string, type: string, notNull: boolean, defaultIncludes?: string];

/** Seed columns per table: [name, format_type, NOT NULL, substring of the default]. */
const SEED_COLUMNS: Record<string, Col[]> = {
  photos: [
    ['id', 'uuid', true, 'gen_random_uuid()'], ['filename', 'text', true], ['width', 'integer', true],
    ['height', 'integer', true], ['file_size', 'bigint', true], ['mime_type', 'text', true],
    ['created_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'], ['is_generated', 'boolean', false, 'false'],
    ['generation_prompt', 'text', false], ['generation_negative_prompt', 'text', false], ['generation_params', 'jsonb', false],
    ['source_image_id', 'uuid', false], ['invoke_id', 'text', false], ['model_key', 'text', false], ['model_hash', 'text', false],
    ['model_name', 'text', false], ['last_accessed_at', 'timestamp with time zone', false], ['deleted_at', 'timestamp with time zone', false],
    ['local_storage_path', 'text', false], ['local_thumbnail_path', 'text', false], ['retrieval_status', 'text', false, "'completed'"],
    ['retrieval_attempts', 'integer', false, '0'], ['last_retrieval_attempt', 'timestamp with time zone', false], ['retrieval_error', 'text', false],
  ],
  albums: [
    ['id', 'uuid', true, 'gen_random_uuid()'], ['name', 'text', true], ['description', 'text', false],
    ['created_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'], ['updated_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'],
    ['cover_photo_id', 'uuid', false],
  ],
  album_photos: [
    ['album_id', 'uuid', true], ['photo_id', 'uuid', true], ['added_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'],
    ['position', 'integer', false],
  ],
  shared_links: [
    ['id', 'uuid', true, 'gen_random_uuid()'], ['photo_id', 'uuid', false], ['album_id', 'uuid', false], ['access_key', 'text', true],
    ['expires_at', 'timestamp with time zone', false], ['created_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'],
    ['last_accessed_at', 'timestamp with time zone', false],
  ],
  generation_sessions: [
    ['id', 'uuid', true, 'gen_random_uuid()'], ['started_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'],
    ['completed_at', 'timestamp with time zone', false], ['entry_type', 'text', true], ['source_image_id', 'uuid', false],
    ['status', 'text', true, "'active'"],
  ],
  generation_steps: [
    ['id', 'uuid', true, 'gen_random_uuid()'], ['session_id', 'uuid', true], ['parent_id', 'uuid', false], ['prompt', 'text', true],
    ['negative_prompt', 'text', false], ['parameters', 'jsonb', true], ['model_key', 'text', true], ['model_hash', 'text', true],
    ['model_name', 'text', false], ['batch_id', 'text', true], ['correlation_id', 'text', false], ['selected_image_id', 'uuid', false],
    ['created_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'], ['completed_at', 'timestamp with time zone', false],
    ['position', 'integer', true], ['status', 'text', true, "'pending'"], ['error_message', 'text', false],
    ['batch_size', 'integer', false, '1'], ['images_retrieved', 'integer', false, '0'], ['images_failed', 'integer', false, '0'],
  ],
  step_alternatives: [
    ['step_id', 'uuid', true], ['image_id', 'uuid', true], ['selected', 'boolean', true, 'false'],
    ['created_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'],
  ],
  models: [
    ['key', 'text', true], ['hash', 'text', true], ['name', 'text', true], ['type', 'text', true], ['base', 'text', true],
    ['description', 'text', false], ['default_width', 'integer', false], ['default_height', 'integer', false],
    ['default_steps', 'integer', false], ['default_cfg_scale', 'numeric(5,2)', false], ['default_scheduler', 'text', false],
    ['compatible_with_base', 'text', false], ['is_default_vae', 'boolean', false, 'false'],
    ['cached_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'], ['is_favorite', 'boolean', false, 'false'],
    ['last_used_at', 'timestamp with time zone', false],
  ],
  prompt_templates: [
    ['id', 'uuid', true, 'gen_random_uuid()'], ['name', 'text', true], ['description', 'text', false], ['prompt_text', 'text', true],
    ['negative_prompt', 'text', false], ['category', 'text', false], ['is_favorite', 'boolean', true, 'false'],
    ['created_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'], ['updated_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'],
  ],
  application_settings: [
    ['id', 'integer', true], ['aspect_ratios', 'jsonb', false, 'Portrait (2:3)'], ['default_steps', 'integer', true, '30'],
    ['default_cfg_scale', 'numeric(4,2)', true, '7.5'], ['default_scheduler', 'text', true, "'euler'"],
    ['default_batch_size', 'integer', true, '4'], ['backend_mode', 'text', true, "'local'"],
    ['local_backend_url', 'text', true, "'http://localhost:9090'"], ['remote_backend_url', 'text', false], ['runpod_api_key', 'text', false],
    ['runpod_pod_type', 'text', false, "'NVIDIA A5000'"], ['idle_timeout_minutes', 'integer', false, '30'],
    ['is_connected', 'boolean', false, 'false'], ['last_connected_at', 'timestamp with time zone', false], ['api_version', 'text', false],
    ['current_session_id', 'text', false], ['current_session_start', 'timestamp with time zone', false],
    ['current_session_cost', 'numeric(10,4)', false, '0'], ['lifetime_usage_hours', 'numeric(10,2)', false, '0'],
    ['lifetime_cost', 'numeric(10,2)', false, '0'], ['max_retrieval_attempts', 'integer', false, '5'],
    ['retrieval_retry_delay', 'integer', false, '60'], ['parallel_retrievals', 'integer', false, '3'],
    ['settings_json', 'jsonb', true, "'{}'"], ['updated_at', 'timestamp with time zone', false, 'CURRENT_TIMESTAMP'],
  ],
};

/** [table, column, referenced table, referenced column, ON DELETE rule (pg confdeltype)] */
const SEED_FKS: Array<[string, string, string, string, 'a' | 'c' | 'n']> = [
  ['photos', 'source_image_id', 'photos', 'id', 'a'],
  ['albums', 'cover_photo_id', 'photos', 'id', 'a'],
  ['album_photos', 'album_id', 'albums', 'id', 'c'],
  ['album_photos', 'photo_id', 'photos', 'id', 'c'],
  ['shared_links', 'photo_id', 'photos', 'id', 'a'],
  ['shared_links', 'album_id', 'albums', 'id', 'a'],
  ['generation_sessions', 'source_image_id', 'photos', 'id', 'a'],
  ['generation_steps', 'session_id', 'generation_sessions', 'id', 'c'],
  ['generation_steps', 'parent_id', 'generation_steps', 'id', 'n'],
  ['generation_steps', 'selected_image_id', 'photos', 'id', 'a'],
  ['step_alternatives', 'step_id', 'generation_steps', 'id', 'c'],
  ['step_alternatives', 'image_id', 'photos', 'id', 'c'],
];

/** [table, substrings the CHECK definition must contain] */
const SEED_CHECKS: Array<[string, string[]]> = [
  ['photos', ['retrieval_status', "'pending'", "'processing'", "'completed'", "'failed'"]],
  ['shared_links', ['photo_id IS NOT NULL', 'album_id IS NULL', 'photo_id IS NULL', 'album_id IS NOT NULL']],
  ['generation_sessions', ['entry_type', "'scratch'", "'refinement'"]],
  ['generation_sessions', ['status', "'active'", "'completed'", "'abandoned'"]],
  ['generation_steps', ['status', "'pending'", "'processing'", "'completed'", "'failed'"]],
  ['application_settings', ['id = 1']],
  ['application_settings', ['backend_mode', "'local'", "'remote'"]],
];

/** [index name, table, substrings of pg_indexes.indexdef] — the seed's indexes (partial and GIN included). */
const SEED_INDEXES: Array<[string, string, string[]]> = [
  ['idx_photos_retrieval_status', 'photos', ['(retrieval_status)', "WHERE (retrieval_status <> 'completed'"]],
  ['idx_photos_deleted_at', 'photos', ['(deleted_at)', 'WHERE (deleted_at IS NOT NULL)']],
  ['idx_photos_invoke_id', 'photos', ['(invoke_id)', 'WHERE (invoke_id IS NOT NULL)']],
  ['idx_photos_generation_prompt', 'photos', ['USING gin', "to_tsvector('english'::regconfig, generation_prompt)"]],
  ['idx_album_photos_position', 'album_photos', ['(album_id, "position")']],
  ['idx_shared_links_access_key', 'shared_links', ['(access_key)']],
  ['idx_shared_links_expires_at', 'shared_links', ['(expires_at)', 'WHERE (expires_at IS NOT NULL)']],
  ['idx_generation_sessions_status', 'generation_sessions', ['(status)']],
  ['idx_generation_steps_session', 'generation_steps', ['(session_id, "position")']],
  ['idx_generation_steps_parent', 'generation_steps', ['(parent_id)']],
  ['idx_generation_steps_status', 'generation_steps', ['(status)', "'pending'", "'processing'"]],
  ['idx_generation_steps_batch_id', 'generation_steps', ['(batch_id)']],
  ['idx_generation_steps_correlation_id', 'generation_steps', ['(correlation_id)', 'WHERE (correlation_id IS NOT NULL)']],
  ['idx_step_alternatives_step', 'step_alternatives', ['(step_id)']],
  ['idx_step_alternatives_selected', 'step_alternatives', ['(step_id, selected)', 'WHERE (selected = true)']],
  ['idx_models_type', 'models', ['(type)']],
  ['idx_models_base', 'models', ['(base)']],
  ['idx_models_compatible_base', 'models', ['(compatible_with_base)', 'WHERE (compatible_with_base IS NOT NULL)']],
  ['idx_models_favorite', 'models', ['(is_favorite)', 'WHERE (is_favorite = true)']],
  ['idx_prompt_templates_favorite', 'prompt_templates', ['(is_favorite)', 'WHERE (is_favorite = true)']],
  ['idx_prompt_templates_category', 'prompt_templates', ['(category)']],
];

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(async () => {
  await t?.drop();
});

describe('migrations create the seed schema', () => {
  test('every seed column exists with its type, NOT NULL and default', async () => {
    const rows = await t.database.sql<{ table: string; column: string; type: string; not_null: boolean; def: string | null }[]>`
      SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
             a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS def
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`;
    const byKey = new Map(rows.map((r) => [`${r.table}.${r.column}`, r]));
    let checked = 0;
    for (const [table, cols] of Object.entries(SEED_COLUMNS)) {
      for (const [name, type, notNull, def] of cols) {
        const r = byKey.get(`${table}.${name}`);
        assert.ok(r, `missing column ${table}.${name}`);
        assert.equal(r.type, type, `${table}.${name} type`);
        assert.equal(r.not_null, notNull, `${table}.${name} NOT NULL`);
        if (def) assert.ok(r.def?.includes(def), `${table}.${name} default ${r.def} should include ${def}`);
        checked++;
      }
    }
    assert.equal(checked, 121); // every column of the seed's ten tables
  });

  test('primary keys and unique constraints of the seed', async () => {
    const rows = await t.database.sql<{ table: string; def: string }[]>`
      SELECT conrelid::regclass::text AS table, pg_get_constraintdef(oid) AS def
      FROM pg_constraint WHERE contype IN ('p', 'u') AND connamespace = 'public'::regnamespace`;
    const has = (table: string, def: string) => rows.some((r) => r.table === table && r.def === def);
    for (const table of ['photos', 'albums', 'shared_links', 'generation_sessions', 'generation_steps', 'prompt_templates'])
      assert.ok(has(table, 'PRIMARY KEY (id)'), `${table} primary key`);
    assert.ok(has('album_photos', 'PRIMARY KEY (album_id, photo_id)'));
    assert.ok(has('step_alternatives', 'PRIMARY KEY (step_id, image_id)'));
    assert.ok(has('models', 'PRIMARY KEY (key)'));
    assert.ok(has('application_settings', 'PRIMARY KEY (id)'));
    assert.ok(has('photos', 'UNIQUE (filename)'));
    assert.ok(has('shared_links', 'UNIQUE (access_key)'));
  });

  test('every foreign key with its ON DELETE rule', async () => {
    const rows = await t.database.sql<{ table: string; column: string; ref_table: string; ref_column: string; on_delete: string }[]>`
      SELECT c.conrelid::regclass::text AS table, a.attname AS column, c.confrelid::regclass::text AS ref_table,
             ra.attname AS ref_column, c.confdeltype AS on_delete
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
      WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`;
    for (const [table, column, refTable, refColumn, rule] of SEED_FKS) {
      const r = rows.find((x) => x.table === table && x.column === column);
      assert.ok(r, `missing FK ${table}.${column}`);
      assert.equal(r.ref_table, refTable, `${table}.${column} references`);
      assert.equal(r.ref_column, refColumn);
      assert.equal(r.on_delete, rule, `${table}.${column} ON DELETE`);
    }
    assert.equal(rows.length, SEED_FKS.length, 'no foreign key beyond the seed');
  });

  test('every CHECK constraint, including share_target_check and the settings singleton', async () => {
    const rows = await t.database.sql<{ table: string; name: string; def: string }[]>`
      SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS def
      FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace`;
    for (const [table, parts] of SEED_CHECKS) {
      const found = rows.find((r) => r.table === table && parts.every((p) => r.def.includes(p)));
      assert.ok(found, `missing CHECK on ${table} with ${parts.join(', ')}; have ${rows.filter((r) => r.table === table).map((r) => r.def).join(' | ')}`);
    }
    assert.ok(rows.some((r) => r.name === 'share_target_check'));
    assert.ok(rows.some((r) => r.name === 'singleton_settings' && r.def.includes('id = 1')));
  });

  test('every index of the seed, partial predicates and the GIN full-text index included', async () => {
    const rows = await t.database.sql<{ name: string; table: string; def: string }[]>`
      SELECT indexname AS name, tablename AS table, indexdef AS def FROM pg_indexes WHERE schemaname = 'public'`;
    for (const [name, table, parts] of SEED_INDEXES) {
      const r = rows.find((x) => x.name === name);
      assert.ok(r, `missing index ${name}`);
      assert.equal(r.table, table);
      for (const p of parts) assert.ok(r.def.includes(p), `${name}: ${r.def} should include ${p}`);
    }
  });

  test('the seed comments are there', async () => {
    const [row] = await t.database.sql<{ c: string }[]>`SELECT obj_description('photos'::regclass, 'pg_class') AS c`;
    assert.equal(row?.c, 'Stores metadata for all photos, both uploaded and generated');
  });
});

describe('constraints hold', () => {
  test('the settings row exists with the seed defaults, and a second row is refused', async () => {
    const rows = await t.database.sql`SELECT id, default_steps, default_scheduler, backend_mode FROM application_settings`;
    assert.deepEqual([...rows], [{ id: 1, default_steps: 30, default_scheduler: 'euler', backend_mode: 'local' }]);
    await assert.rejects(t.database.sql`INSERT INTO application_settings (id) VALUES (2)`, /singleton_settings/);
    await assert.rejects(t.database.sql`INSERT INTO application_settings (id) VALUES (1)`, /duplicate key/);
  });

  test('a share link with both targets, or neither, is refused', async () => {
    const [photo] = await t.database.sql<{ id: string }[]>`
      INSERT INTO photos (filename, width, height, file_size, mime_type) VALUES ('a.png', 100, 100, 10, 'image/png') RETURNING id`;
    const [album] = await t.database.sql<{ id: string }[]>`INSERT INTO albums (name) VALUES ('a') RETURNING id`;
    await assert.rejects(
      t.database.sql`INSERT INTO shared_links (photo_id, album_id, access_key) VALUES (${photo!.id}, ${album!.id}, 'k1')`,
      /share_target_check/,
    );
    await assert.rejects(t.database.sql`INSERT INTO shared_links (access_key) VALUES ('k2')`, /share_target_check/);
    await t.database.sql`INSERT INTO shared_links (photo_id, access_key) VALUES (${photo!.id}, 'k3')`;
    await t.database.sql`INSERT INTO shared_links (album_id, access_key) VALUES (${album!.id}, 'k4')`;
    const [{ n }] = [...(await t.database.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM shared_links`)] as [{ n: number }];
    assert.equal(n, 2);
  });

  test('retrieval_status outside its set is refused', async () => {
    await assert.rejects(
      t.database.sql`INSERT INTO photos (filename, width, height, file_size, mime_type, retrieval_status) VALUES ('b.png', 1, 1, 1, 'image/png', 'lost')`,
      /photos_retrieval_status_check/,
    );
  });

  test('migrations are idempotent, also when two processes run them at once', async () => {
    await Promise.all([runMigrations(t.url), runMigrations(t.url), runMigrations(t.url)]);
    const [{ n }] = [...(await t.database.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`)] as [{ n: number }];
    const journal = (await import('../../migrations/meta/_journal.json', { with: { type: 'json' } })).default as { entries: unknown[] };
    assert.equal(n, journal.entries.length);
    const [{ s }] = [...(await t.database.sql<{ s: number }[]>`SELECT count(*)::int AS s FROM application_settings`)] as [{ s: number }];
    assert.equal(s, 1);
  });
});

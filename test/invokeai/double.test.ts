/**
 * The InvokeAI double's own contract: the graph/batch checks of reference §8/§11, the admin API,
 * and the CLI (`npm run invokeai:double`) serving real PNGs whose metadata carries the CID key.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInvokeAIClient, type InvokeAIClient } from '../../src/invokeai/client.js';
import { InvokeAIValidationError } from '../../src/invokeai/errors.js';
import { getBatchImages, isBatchDone } from '../../src/invokeai/batch-images.js';
import {
  CID_METADATA_KEY,
  buildTextToImageBatch,
  type EnqueueBatchBody,
  type ModelRecordLike,
} from '../../src/invokeai/graphs/index.js';
import { startInvokeAIDouble, type InvokeAIDouble } from '../doubles/invokeai/server.js';
import { DOUBLE_MODEL_KEYS, defaultDoubleModels } from '../doubles/invokeai/models.js';
import { readPngText } from '../doubles/invokeai/png.js';

const sd1 = defaultDoubleModels().find((m) => m.key === DOUBLE_MODEL_KEYS.sd1Main)!;
const model: ModelRecordLike = {
  key: sd1.key as string,
  hash: sd1.hash as string,
  name: sd1.name as string,
  base: 'sd-1',
  type: 'main',
};
const valid = (seeds = [1]) =>
  buildTextToImageBatch({
    stepId: crypto.randomUUID(),
    batchId: crypto.randomUUID(),
    correlationId: crypto.randomUUID(),
    model,
    prompt: 'p',
    width: 256,
    height: 256,
    steps: 2,
    cfgScale: 1,
    scheduler: 'euler',
    seeds,
  });

let double: InvokeAIDouble;
let client: InvokeAIClient;
before(async () => {
  double = await startInvokeAIDouble({ itemMs: 0, seed: 11 });
  double.admin.pause();
  client = createInvokeAIClient({ baseUrl: double.url });
});
after(async () => {
  await client.close();
  await double.close();
});

describe('enqueue validation (reference §8, §11)', () => {
  const cases: [string, (b: EnqueueBatchBody) => void, RegExp][] = [
    ['node id ≠ key', (b) => void (b.batch.graph.nodes.noise!.id = 'noise2'), /Node ids must match, got noise and noise2/],
    ['edge from an unknown node', (b) => void (b.batch.graph.edges[0]!.source.node_id = 'ghost'), /Edge source node ghost does not exist/],
    ['edge to an unknown node', (b) => void (b.batch.graph.edges[0]!.destination.node_id = 'ghost'), /Edge destination node ghost does not exist/],
    ['edge from an unknown field', (b) => void (b.batch.graph.edges[0]!.source.field = 'nope'), /Edge source field nope does not exist/],
    ['edge to an unknown field', (b) => void (b.batch.graph.edges[0]!.destination.field = 'nope'), /Edge destination field nope does not exist/],
    ['duplicate edge', (b) => void b.batch.graph.edges.push(structuredClone(b.batch.graph.edges[0]!)), /already exists/],
    ['duplicate datum', (b) => void b.batch.data![0]!.push({ node_path: 'noise', field_name: 'seed', items: [5] }), /unique node_id and field_name/],
    ['unequal zip lengths', (b) => void (b.batch.data![0]![1]!.items = [1, 2]), /same length/],
    ['mixed item types', (b) => void (b.batch.data![0]![0]!.items = [1, 'two']), /same type/],
    ['datum on an unknown node', (b) => void (b.batch.data = [[{ node_path: 'ghost', field_name: 'seed', items: [1] }]]), /Node ghost not found/],
    [
      'datum on an undeclared field (core_metadata extra)',
      (b) => void (b.batch.data = [[{ node_path: 'meta', field_name: CID_METADATA_KEY, items: ['x'] }]]),
      /Field photo_gallery_cid not found in node meta/,
    ],
    ['unknown node type', (b) => void (b.batch.graph.nodes.noise!.type = 'noise_v9'), /does not match any of the expected tags/],
    ['runs < 1', (b) => void (b.batch.runs = 0), /must be >= 1/],
    ['bad scheduler', (b) => void (b.batch.graph.nodes.denoise!.scheduler = 'fast'), /allowed values/],
  ];
  for (const [name, mutate, msg] of cases) {
    test(name, async () => {
      const body = valid();
      mutate(body);
      const err = await client.enqueueBatch(body).then(
        () => assert.fail('expected 422'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof InvokeAIValidationError, String(err));
      assert.match(err.issues.map((i) => i.msg).join('\n'), msg);
    });
  }

  test('a real cycle is refused', async () => {
    const body = valid();
    body.batch.graph.edges.push({ source: { node_id: 'denoise', field: 'latents' }, destination: { node_id: 'denoise', field: 'latents' } });
    await assert.rejects(client.enqueueBatch(body), (e: unknown) => e instanceof InvokeAIValidationError && /cycle/.test(e.message));
  });
});

describe('admin API', () => {
  test('stats count accepted enqueues per batch and destination; faults via HTTP', async () => {
    double.admin.reset();
    double.admin.pause();
    const body = valid([1, 2]);
    const r = await client.enqueueBatch(body);
    assert.deepEqual(r.item_ids, [...r.item_ids].sort((a, b) => b - a), 'item_ids newest first');
    const stats = (await (await fetch(`${double.url}/__double/stats`)).json()) as {
      enqueues: { total: number; byBatchId: Record<string, number>; byDestination: Record<string, number> };
    };
    assert.equal(stats.enqueues.total, 1);
    assert.equal(stats.enqueues.byBatchId[body.batch.batch_id], 1);
    assert.equal(stats.enqueues.byDestination[body.batch.destination!], 1);

    const set = await fetch(`${double.url}/__double/faults`, { method: 'POST', body: JSON.stringify({ error5xxRate: 1, error5xxStatus: 502 }) });
    assert.equal(((await set.json()) as { error5xxStatus: number }).error5xxStatus, 502);
    assert.equal((await fetch(`${double.url}/api/v1/app/version`)).status, 502);
    assert.equal((await fetch(`${double.url}/__double/stats`)).status, 200, 'the admin API is never faulted');
    await fetch(`${double.url}/__double/faults`, { method: 'POST', body: JSON.stringify({ error5xxRate: 0 }) });
    assert.equal((await fetch(`${double.url}/api/v1/app/version`)).status, 200);

    const foreign = await fetch(`${double.url}/__double/foreign-images`, { method: 'POST', body: JSON.stringify({ count: 2 }) });
    assert.equal(((await foreign.json()) as { image_names: string[] }).image_names.length, 2);
    assert.equal((await client.listImages()).total, 2);
    double.admin.clear();
    double.admin.resume();
  });

  test('boards list needs all=true or offset+limit (400 otherwise)', async () => {
    assert.equal((await fetch(`${double.url}/api/v1/boards/`)).status, 400);
    const page = (await (await fetch(`${double.url}/api/v1/boards/?offset=0&limit=5`)).json()) as { items: unknown[] };
    assert.ok(Array.isArray(page.items));
  });
});

test('CLI: npm run invokeai:double serves real PNGs whose metadata carries the CID key', async () => {
  const main = fileURLToPath(new URL('../doubles/invokeai/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', '0'], {
    env: { ...process.env, INVOKEAI_DOUBLE_ITEM_MS: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let out = '';
    child.stdout.setEncoding('utf8');
    while (!/listening on (http:\S+)/.test(out)) {
      const [chunk] = (await once(child.stdout, 'data')) as [string];
      out += chunk;
    }
    const url = /listening on (http:\S+)/.exec(out)![1]!;
    const cli = createInvokeAIClient({ baseUrl: url });
    try {
      const body = valid();
      const r = await cli.enqueueBatch(body);
      while (!isBatchDone(await cli.getBatchStatus(body.batch.batch_id))) await new Promise((res) => setTimeout(res, 10));
      const { images } = await getBatchImages(cli, { batchId: body.batch.batch_id, itemIds: r.item_ids });
      const chunks: Buffer[] = [];
      for await (const c of (await cli.getImageFull(images[0]!.imageName)).body) chunks.push(c as Buffer);
      const meta = JSON.parse(readPngText(Buffer.concat(chunks)).invokeai_metadata!) as Record<string, unknown>;
      assert.equal(meta[CID_METADATA_KEY], body.batch.graph.nodes.meta![CID_METADATA_KEY]);
    } finally {
      await cli.close();
    }
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

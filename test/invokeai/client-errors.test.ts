/**
 * One test per client error class: retryable (503, connection reset, connection refused, timeout,
 * truncated image body) and non-retryable (422, 404, failed queue item).
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createInvokeAIClient, type InvokeAIClient } from '../../src/invokeai/client.js';
import {
  InvokeAIConnectionError,
  InvokeAIError,
  InvokeAIHttpError,
  InvokeAINotFoundError,
  InvokeAIQueueItemFailedError,
  InvokeAITimeoutError,
  InvokeAIValidationError,
  isRetryableInvokeAIError,
} from '../../src/invokeai/errors.js';
import { assertQueueItemNotFailed, isBatchDone } from '../../src/invokeai/batch-images.js';
import { buildTextToImageBatch, type ModelRecordLike } from '../../src/invokeai/graphs/index.js';
import { startInvokeAIDouble, type InvokeAIDouble } from '../doubles/invokeai/server.js';
import { DOUBLE_MODEL_KEYS, defaultDoubleModels } from '../doubles/invokeai/models.js';

let double: InvokeAIDouble;
let client: InvokeAIClient;

const sd1 = defaultDoubleModels().find((m) => m.key === DOUBLE_MODEL_KEYS.sd1Main) as unknown as ModelRecordLike;
const smallBatch = (model: ModelRecordLike = sd1) =>
  buildTextToImageBatch({
    stepId: crypto.randomUUID(),
    batchId: crypto.randomUUID(),
    correlationId: crypto.randomUUID(),
    model: { key: model.key, hash: model.hash, name: model.name, base: model.base, type: model.type },
    prompt: 'a small test',
    width: 256,
    height: 256,
    steps: 4,
    cfgScale: 2,
    scheduler: 'euler',
    seeds: [1],
  });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

async function waitDone(batchId: string) {
  for (;;) {
    const s = await client.getBatchStatus(batchId);
    if (isBatchDone(s)) return s;
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(async () => {
  double = await startInvokeAIDouble({ itemMs: 0, seed: 7 });
  client = createInvokeAIClient({ baseUrl: double.url, timeouts: { requestMs: 2000, imageMs: 2000 } });
});
after(async () => {
  await client.close();
  await double.close();
});
beforeEach(() => double.admin.reset());

describe('retryable', () => {
  test('503 → InvokeAIHttpError, retryable, detail string read', async () => {
    double.admin.setFaults({ error5xxRate: 1 });
    const err = await rejection(client.getAppVersion());
    assert.ok(err instanceof InvokeAIHttpError);
    assert.equal(err.status, 503);
    assert.equal(err.retryable, true);
    assert.equal(err.detail, 'Service Unavailable');
    assert.ok(isRetryableInvokeAIError(err));
    double.admin.setFaults({ error5xxRate: 0 });
    assert.equal((await client.getAppVersion()).version, '6.14.0-alpha');
  });

  test('connection reset → InvokeAIConnectionError, retryable', async () => {
    double.admin.setFaults({ resetRate: 1 });
    const err = await rejection(client.getAppVersion());
    assert.ok(err instanceof InvokeAIConnectionError, String(err));
    assert.equal(err.retryable, true);
    assert.equal(double.admin.stats().faults.resets, 1);
  });

  test('connection refused → InvokeAIConnectionError ECONNREFUSED, retryable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dead = createInvokeAIClient({ baseUrl: `http://127.0.0.1:${port}` });
    try {
      const err = await rejection(dead.getAppVersion());
      assert.ok(err instanceof InvokeAIConnectionError);
      assert.equal(err.code, 'ECONNREFUSED');
      assert.equal(err.retryable, true);
    } finally {
      await dead.close();
    }
  });

  test('slow answer → InvokeAITimeoutError, retryable', async () => {
    double.admin.setFaults({ latencyMs: 400 });
    const impatient = createInvokeAIClient({ baseUrl: double.url, timeouts: { requestMs: 100 } });
    try {
      const started = Date.now();
      const err = await rejection(impatient.getAppVersion());
      assert.ok(err instanceof InvokeAITimeoutError, String(err));
      assert.equal(err.retryable, true);
      assert.equal(err.timeoutMs, 100);
      assert.ok(Date.now() - started < 350, 'gave up at the deadline, not after the answer');
    } finally {
      await impatient.close();
    }
  });

  test('a truncated full image errors the stream with a retryable InvokeAIConnectionError', async () => {
    const body = smallBatch();
    await client.enqueueBatch(body);
    await waitDone(body.batch.batch_id);
    const [image] = (await client.listImages()).items;
    double.admin.setFaults({ truncateRate: 1 });
    const stream = await client.getImageFull(image!.image_name);
    assert.ok(stream.contentLength! > 0);
    let received = 0;
    const err = await rejection(
      pipeline(
        stream.body,
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            received += chunk.length;
            cb();
          },
        }),
      ),
    );
    assert.ok(err instanceof InvokeAIConnectionError, String(err));
    assert.equal(err.retryable, true);
    assert.ok(received < stream.contentLength!);
  });
});

describe('not retryable', () => {
  test('422 → InvokeAIValidationError with the detail array', async () => {
    const body = smallBatch();
    delete (body.batch.graph.nodes.model!.model as Record<string, unknown>).name;
    const err = await rejection(client.enqueueBatch(body));
    assert.ok(err instanceof InvokeAIValidationError);
    assert.equal(err.retryable, false);
    assert.deepEqual(err.issues[0]!.loc, ['body', 'batch', 'graph', 'nodes', 'model', 'main_model_loader', 'model', 'name']);
    assert.equal(double.admin.stats().enqueues.total, 0);
    assert.equal(double.admin.stats().enqueues.rejected, 1);
  });

  test('422 on a bad model filter', async () => {
    const err = await rejection(client.listModels({ baseModels: ['sdxl', 'sd-9'] }));
    assert.ok(err instanceof InvokeAIValidationError);
    assert.deepEqual(err.issues[0]!.loc, ['query', 'base_models', 1]);
  });

  test('404 → InvokeAINotFoundError', async () => {
    for (const call of [client.getImageDTO('nope.png'), client.getQueueItem(999_999), client.getImageMetadata('nope.png')]) {
      const err = await rejection(call);
      assert.ok(err instanceof InvokeAINotFoundError);
      assert.equal(err.status, 404);
      assert.equal(err.retryable, false);
      assert.equal(err.detail, 'Not Found');
    }
  });

  test('failed queue item → InvokeAIQueueItemFailedError with error_type/error_message', async () => {
    double.admin.setFaults({ failNextItems: 1 });
    const body = smallBatch();
    const r = await client.enqueueBatch(body);
    await waitDone(body.batch.batch_id);
    const item = await client.getQueueItem(r.item_ids[0]!);
    assert.equal(item.status, 'failed');
    const err = await rejection(Promise.resolve().then(() => assertQueueItemNotFailed(item)));
    assert.ok(err instanceof InvokeAIQueueItemFailedError);
    assert.ok(err instanceof InvokeAIError);
    assert.equal(err.retryable, false);
    assert.equal(err.errorType, 'OutOfMemoryError');
    assert.match(err.errorMessage!, /out of memory/);
  });

  test('an unknown model key is accepted, then the item fails with "Unknown model: <key>"', async () => {
    const body = smallBatch({ ...sd1, key: 'no-such-model' });
    const r = await client.enqueueBatch(body);
    assert.equal(r.enqueued, 1);
    await waitDone(body.batch.batch_id);
    const item = await client.getQueueItem(r.item_ids[0]!);
    assert.equal(item.status, 'failed');
    assert.equal(item.error_type, 'Exception');
    assert.equal(item.error_message, 'Unknown model: no-such-model');
    assert.deepEqual(Object.values(item.session.errors), ['Exception: Unknown model: no-such-model']);
    assert.throws(() => assertQueueItemNotFailed(item), InvokeAIQueueItemFailedError);
  });
});

/**
 * RunPod error classification (reference §2.4) and the rule that the API key never leaks: every
 * error class is triggered with the key `rpa_SECRET123` and its JSON, message, stack and inspect
 * output are searched for it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import util from 'node:util';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRunPodClient, type RunPodClient } from '../../src/runpod/client.js';
import {
  classifyRunPodResponse,
  parseProblem,
  parseRetryAfterMs,
  redactorFor,
  RunPodAuthError,
  RunPodBadRequestError,
  RunPodConflictError,
  RunPodError,
  RunPodGoneError,
  RunPodHostNoGpuError,
  RunPodInsufficientBalanceError,
  RunPodInvalidResponseError,
  RunPodNetworkError,
  RunPodNoCapacityError,
  RunPodNotFoundError,
  RunPodRateLimitError,
  RunPodServerError,
  RunPodValidationError,
} from '../../src/runpod/errors.js';
import type { CreatePodRequest } from '../../src/runpod/schemas.js';
import { startRunPodDouble, type RunPodDouble } from '../doubles/runpod/server.js';

const KEY = 'rpa_SECRET123';

function assertNoKey(err: unknown, label: string): void {
  assert.ok(err instanceof RunPodError, `${label}: expected a RunPodError, got ${String(err)}`);
  const outputs = {
    json: JSON.stringify(err),
    message: err.message,
    stack: String(err.stack),
    inspect: util.inspect(err, { depth: Infinity, showHidden: true }),
    ownProps: JSON.stringify(Object.fromEntries(Object.getOwnPropertyNames(err).map((k) => [k, (err as unknown as Record<string, unknown>)[k]]))),
  };
  for (const [where, text] of Object.entries(outputs)) {
    assert.ok(!text.includes('SECRET123'), `${label}: the key leaked into ${where}: ${text}`);
  }
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return assert.fail('expected a rejection');
}

void describe('the API key never appears in an error', () => {
  let rp: RunPodDouble;
  let client: RunPodClient;
  let echo: http.Server;
  let echoUrl: string;

  before(async () => {
    rp = await startRunPodDouble({ apiKey: KEY, timings: { provisioningMs: 10, startingMs: 10 } });
    client = createRunPodClient({ apiKey: KEY, baseUrl: rp.apiUrl, proxyUrlTemplate: rp.proxyUrlTemplate });
    // A hostile server that echoes the Authorization header back in every way it can.
    echo = http.createServer((req, res) => {
      const auth = String(req.headers.authorization);
      const { pathname } = new URL(req.url ?? '/', 'http://x');
      if (pathname.endsWith('/pods/json400')) {
        res.writeHead(400, { 'content-type': 'application/problem+json' });
        return res.end(JSON.stringify({ title: 'Bad Request', status: 400, detail: `bad key ${auth}`, errors: [`$.key: ${auth}`] }));
      }
      if (pathname.endsWith('/pods/text500')) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        return res.end(`upstream said: ${auth}`);
      }
      if (pathname.endsWith('/pods/v1error')) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: `unknown key ${KEY}` }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', leaked: auth })); // fails the Pod schema
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/v2`;
  });
  after(async () => {
    await client.close();
    await rp.close();
    await new Promise((r) => echo.close(r));
  });

  const body: CreatePodRequest = { name: 'leak-test', image: 'img', gpu: { id: 'NVIDIA RTX A5000' }, ports: ['9090/http'] };

  void test('every error class, from the double', async () => {
    const pod = await client.createPod(body);
    const cases: [string, () => Promise<unknown>, new (...args: never[]) => RunPodError][] = [
      ['no capacity', async () => (rp.admin.setFaults({ noCapacity: true }), client.createPod(body)), RunPodNoCapacityError],
      ['402', async () => (rp.admin.setFaults({ noCapacity: false, insufficientBalance: true }), client.createPod(body)), RunPodInsufficientBalanceError],
      ['400 rule', async () => (rp.admin.setFaults({ insufficientBalance: false }), client.createPod({ ...body, cpu: { id: 'cpu5c', vcpuCount: 4 } })), RunPodBadRequestError],
      ['422', () => client.createPod({ ...body, nope: 1 } as CreatePodRequest), RunPodValidationError],
      ['404', () => client.getPod('missing'), RunPodNotFoundError],
      ['409', async () => (await client.stopPod(pod.id), client.stopPod(pod.id)), RunPodConflictError],
      ['host no gpu', async () => (rp.admin.setFaults({ hostNoGpuOnStart: 1 }), client.startPod(pod.id)), RunPodHostNoGpuError],
      ['429', async () => (rp.admin.setFaults({ rateLimited: 1 }), client.listPods()), RunPodRateLimitError],
      ['5xx', async () => (rp.admin.setFaults({ serverErrors: 1 }), client.listPods()), RunPodServerError],
      ['ghost 5xx', async () => (rp.admin.setFaults({ createThen500: 1 }), client.createPod(body)), RunPodServerError],
      ['timeout', async () => (rp.admin.setFaults({ delayMs: 300 }), client.listPods({}, { timeoutMs: 50 })), RunPodNetworkError],
    ];
    for (const [label, run, cls] of cases) {
      const err = await caught(run());
      assert.ok(err instanceof cls, `${label}: expected ${cls.name}, got ${String(err)}`);
      assertNoKey(err, label);
    }
    rp.admin.setFaults({ delayMs: 0 });
  });

  void test('401 with the secret as the wrong key, 403 with it as a read-only key, 410 on v1', async () => {
    const other = await startRunPodDouble({ apiKey: 'rpa_OTHER', readOnlyApiKey: KEY });
    const c = createRunPodClient({ apiKey: KEY, baseUrl: other.apiUrl });
    const wrong = createRunPodClient({ apiKey: `${KEY}x`, baseUrl: other.apiUrl });
    const v1 = createRunPodClient({ apiKey: KEY, baseUrl: `${other.url}/v1` });
    try {
      const e403 = await caught(c.deletePod('abc'));
      assert.ok(e403 instanceof RunPodAuthError && e403.status === 403);
      assertNoKey(e403, '403');
      const e401 = await caught(wrong.listPods());
      assert.ok(e401 instanceof RunPodAuthError && e401.status === 401);
      assertNoKey(e401, '401');
      const e410 = await caught(v1.listPods());
      assert.ok(e410 instanceof RunPodGoneError);
      assertNoKey(e410, '410');
    } finally {
      await Promise.all([c.close(), wrong.close(), v1.close(), other.close()]);
    }
  });

  void test('a server echoing the key: problem detail/errors, plain-text 500, v1 {"error"}, bad 200 body, refused connection', async () => {
    const c = createRunPodClient({ apiKey: KEY, baseUrl: echoUrl });
    try {
      const e400 = await caught(c.getPod('json400'));
      assert.ok(e400 instanceof RunPodBadRequestError);
      assert.match(e400.message, /bad key Bearer \*\*\*/);
      assert.deepEqual(e400.errors, ['$.key: Bearer ***']);
      assertNoKey(e400, 'echo 400');
      const e500 = await caught(c.getPod('text500'));
      assert.ok(e500 instanceof RunPodServerError);
      assert.match(e500.message, /upstream said: Bearer \*\*\*/);
      assertNoKey(e500, 'echo 500');
      const e401 = await caught(c.getPod('v1error'));
      assert.ok(e401 instanceof RunPodAuthError);
      assert.match(e401.message, /unknown key \*\*\*/);
      assertNoKey(e401, 'echo v1');
      const bad = await caught(c.getPod('ok'));
      assert.ok(bad instanceof RunPodInvalidResponseError);
      assert.equal(bad.retryable, false);
      assertNoKey(bad, 'invalid response');
    } finally {
      await c.close();
    }
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const dead = createRunPodClient({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}/v2` });
    try {
      const err = await caught(dead.listPods());
      assert.ok(err instanceof RunPodNetworkError);
      assertNoKey(err, 'refused');
    } finally {
      await dead.close();
    }
  });

  void test('the client object does not expose the key', () => {
    const text = util.inspect(client, { depth: 6, showHidden: true }) + JSON.stringify(Object.keys(client));
    assert.ok(!text.includes('SECRET123'));
  });
});

void describe('classification', () => {
  const base = { method: 'POST', path: '/v2/pods', headers: {}, redact: redactorFor('rpa_UNITKEY') };
  const classify = (status: number, detail: string, headers: Record<string, string> = {}) =>
    classifyRunPodResponse({ ...base, status, headers, bodyText: JSON.stringify({ title: 't', status, detail }) });

  void test('status → class, code and retryable', () => {
    const table: [number, string, new (...args: never[]) => RunPodError, string, boolean][] = [
      [400, 'There are no longer any instances available with the requested specifications. Please refresh and try again.', RunPodNoCapacityError, 'no_capacity', false],
      [400, 'request could not be processed', RunPodBadRequestError, 'bad_request', false],
      [401, 'missing bearer token', RunPodAuthError, 'unauthorized', false],
      [403, 'access denied', RunPodAuthError, 'forbidden', false],
      [402, 'insufficient balance', RunPodInsufficientBalanceError, 'insufficient_balance', false],
      [404, 'pod not found', RunPodNotFoundError, 'not_found', false],
      [409, 'cannot stop', RunPodConflictError, 'conflict', false],
      [410, 'gone', RunPodGoneError, 'gone', false],
      [422, 'Request validation failed.', RunPodValidationError, 'validation_error', false],
      [429, 'rate limit exceeded', RunPodRateLimitError, 'rate_limited', true],
      [500, 'Something went wrong.', RunPodServerError, 'server_error', true],
      [503, 'unavailable', RunPodServerError, 'server_error', true],
      [500, 'start pod: There are not enough free GPUs on the host machine to start this pod.', RunPodHostNoGpuError, 'host_no_gpu', false],
      [405, 'method not allowed', RunPodError, 'http_error', false],
    ];
    for (const [status, detail, cls, code, retryable] of table) {
      const err = classify(status, detail);
      assert.ok(err instanceof cls, `${status} ${detail} → ${err.name}`);
      assert.equal(err.code, code, `${status} code`);
      assert.equal(err.retryable, retryable, `${status} retryable`);
      assert.equal(err.status, status);
      assert.equal(err.detail, detail);
    }
  });

  void test('Retry-After: seconds, HTTP date, RateLimit fallback, absent', () => {
    const now = Date.parse('2026-11-21T12:00:00Z');
    assert.equal(parseRetryAfterMs('12'), 12_000);
    assert.equal(parseRetryAfterMs('Sat, 21 Nov 2026 12:00:30 GMT', undefined, now), 30_000);
    assert.equal(parseRetryAfterMs(undefined, '"minute";r=0;t=12, "hour";r=2800;t=1812'), 12_000);
    assert.equal(parseRetryAfterMs(undefined, '"minute";r=5;t=12'), undefined);
    assert.equal(parseRetryAfterMs(undefined), undefined);
    const err = classify(429, 'slow down', { 'retry-after': '3' });
    assert.equal(err.retryAfterMs, 3000);
  });

  void test('problem bodies: v2 problem, v1 {"error"} and {"message"}, plain text, empty', () => {
    assert.deepEqual(parseProblem('{"title":"Bad Request","status":400,"detail":"d","errors":["e"]}'), {
      title: 'Bad Request',
      status: 400,
      detail: 'd',
      errors: ['e'],
    });
    assert.equal(classifyRunPodResponse({ ...base, status: 500, bodyText: '{"error":"Something went wrong."}' }).detail, 'Something went wrong.');
    assert.equal(classifyRunPodResponse({ ...base, status: 400, bodyText: '{"message":"nope"}' }).detail, 'nope');
    assert.equal(parseProblem('<html>502</html>').detail, '<html>502</html>');
    assert.deepEqual(parseProblem(''), {});
  });
});

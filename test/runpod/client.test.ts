/**
 * The RunPod REST v2 client against the RunPod double: the pod lifecycle through the proxy, one test
 * per error class, the ghost-pod fault, name filters, the catalog.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRunPodClient, podProxyUrl, type RunPodClient } from '../../src/runpod/client.js';
import {
  RunPodAuthError,
  RunPodConflictError,
  RunPodError,
  RunPodGoneError,
  RunPodHostNoGpuError,
  RunPodInsufficientBalanceError,
  RunPodNetworkError,
  RunPodNoCapacityError,
  RunPodNotFoundError,
  RunPodRateLimitError,
  RunPodServerError,
  RunPodValidationError,
} from '../../src/runpod/errors.js';
import type { CreatePodRequest, Pod } from '../../src/runpod/schemas.js';
import { startRunPodDouble, type RunPodDouble } from '../doubles/runpod/server.js';

const GPU = 'NVIDIA RTX A5000';
const body = (name: string): CreatePodRequest => ({
  name,
  image: 'ghcr.io/invoke-ai/invokeai:6.0.0-cuda',
  gpu: { id: GPU, count: 1 },
  ports: ['9090/http'],
  disk: 40,
  env: { INVOKEAI_ROOT: '/workspace/invokeai' },
});

/** Polls `getPod` until `status` is reached; fails after `ms`. */
async function waitForStatus(client: RunPodClient, id: string, status: string, ms = 3000): Promise<Pod> {
  const deadline = Date.now() + ms;
  for (;;) {
    const pod = await client.getPod(id);
    if (pod.status === status) return pod;
    if (Date.now() > deadline) assert.fail(`pod ${id} still ${pod.status}, wanted ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Asserts `promise` rejects with an instance of `cls` and returns the error. */
async function rejectsWith<T extends RunPodError>(promise: Promise<unknown>, cls: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err;
  }
  return assert.fail(`expected ${cls.name}, but the call succeeded`);
}

void describe('RunPod client against the double', () => {
  let upstream: http.Server;
  let upstreamUrl: string;
  let rp: RunPodDouble;
  let client: RunPodClient;
  const seen: string[] = [];

  before(async () => {
    upstream = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version: '6.0.0' }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    rp = await startRunPodDouble({
      invokeaiUrl: upstreamUrl,
      // long enough that "before RUNNING" checks hold on a loaded 2-core machine
      timings: { provisioningMs: 400, startingMs: 400 },
      readOnlyApiKey: 'rpa_READONLY',
    });
    client = createRunPodClient({ apiKey: rp.apiKey, baseUrl: rp.apiUrl, proxyUrlTemplate: rp.proxyUrlTemplate });
  });
  after(async () => {
    await client.close();
    await rp.close();
    await new Promise((r) => upstream.close(r));
  });
  beforeEach(() => rp.admin.reset());

  void test('create → RUNNING → proxy reaches InvokeAI → stop (EXITED, cost 0) → terminate (404, unlisted)', async () => {
    const created = await client.createPod(body('gallery-lifecycle'));
    assert.equal(created.status, 'PROVISIONING');
    assert.equal(created.runtime, null);
    assert.equal(created.startedAt, null);
    assert.equal(created.cost, 0.27);
    assert.deepEqual(created.gpu, { id: GPU, count: 1 });
    assert.deepEqual([...created.actions].sort(), ['stop', 'terminate']);

    const url = client.podProxyUrl(created.id, 9090);
    assert.equal(url, `${rp.url}/proxy/${created.id}/9090`);
    assert.equal((await fetch(`${url}/api/v1/app/version`)).status, 502, 'proxy answers 502 before RUNNING');

    const running = await waitForStatus(client, created.id, 'RUNNING');
    assert.ok(running.startedAt);
    assert.deepEqual([...running.actions].sort(), ['restart', 'stop', 'terminate']);
    const res = await fetch(`${url}/api/v1/app/version?x=1`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { version: '6.0.0' });
    assert.ok(seen.includes('GET /api/v1/app/version?x=1'));

    const stopped = await client.stopPod(created.id);
    assert.equal(stopped.status, 'EXITED');
    assert.equal(stopped.cost, 0);
    assert.equal(stopped.runtime, null);
    assert.equal((await client.getPod(created.id)).cost, 0);
    assert.equal((await fetch(`${url}/api/v1/app/version`)).status, 502, 'proxy answers 502 once stopped');

    await client.terminatePod(created.id);
    await rejectsWith(client.getPod(created.id), RunPodNotFoundError);
    assert.equal((await client.listPods()).length, 0);
    const state = rp.admin.state();
    assert.equal(state.pods[0]?.status, 'TERMINATED');
    assert.ok(state.pods[0]!.accruedUsd > 0);
  });

  void test('start after stop comes back to RUNNING; DELETE removes the pod', async () => {
    const pod = await client.createPod(body('gallery-restart'));
    await waitForStatus(client, pod.id, 'RUNNING');
    await client.stopPod(pod.id);
    const starting = await client.startPod(pod.id);
    assert.equal(starting.status, 'STARTING');
    assert.ok(starting.cost > 0);
    await waitForStatus(client, pod.id, 'RUNNING');
    await client.deletePod(pod.id);
    await rejectsWith(client.getPod(pod.id), RunPodNotFoundError);
  });

  void test('listPods filters by exact name and by substring, client-side', async () => {
    await client.createPod(body('photo-gallery runpod-pod/aaa'));
    await client.createPod(body('photo-gallery runpod-pod/bbb'));
    rp.admin.addPod({ name: 'someone-elses-pod' });
    assert.equal((await client.listPods()).length, 3);
    assert.deepEqual(
      (await client.listPods({ name: 'photo-gallery runpod-pod/bbb' })).map((p) => p.name),
      ['photo-gallery runpod-pod/bbb'],
    );
    assert.deepEqual(
      (await client.listPods({ nameIncludes: 'runpod-pod/' })).map((p) => p.name).sort(),
      ['photo-gallery runpod-pod/aaa', 'photo-gallery runpod-pod/bbb'],
    );
  });

  void test('ghost pod: create answers 500 but the pod exists and is found by name', async () => {
    rp.admin.setFaults({ createThen500: 1 });
    const err = await rejectsWith(client.createPod(body('gallery-ghost')), RunPodServerError);
    assert.equal(err.status, 500);
    assert.equal(err.retryable, true);
    assert.equal(rp.admin.state().podsCreated, 1);
    const found = await client.listPods({ name: 'gallery-ghost' });
    assert.equal(found.length, 1);
    assert.equal(found[0]!.status === 'PROVISIONING' || found[0]!.status === 'STARTING' || found[0]!.status === 'RUNNING', true);
  });

  void test('400 no capacity → RunPodNoCapacityError, not retryable, clear message', async () => {
    rp.admin.setFaults({ noCapacity: true });
    const err = await rejectsWith(client.createPod(body('gallery-nocap')), RunPodNoCapacityError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'no_capacity');
    assert.equal(err.retryable, false);
    assert.match(err.message, /no longer any instances available/);
    assert.match(err.message, /try another GPU type/);
    assert.equal(rp.admin.state().podsCreated, 0);
  });

  void test('401 wrong key and missing key → RunPodAuthError unauthorized; 403 read-only key on a write → forbidden', async () => {
    const wrong = createRunPodClient({ apiKey: 'rpa_WRONG', baseUrl: rp.apiUrl });
    try {
      const err = await rejectsWith(wrong.listPods(), RunPodAuthError);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'unauthorized');
      assert.equal(err.retryable, false);
    } finally {
      await wrong.close();
    }
    const missing = await fetch(`${rp.apiUrl}/pods`);
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.deepEqual(await missing.json(), { title: 'Unauthorized', status: 401, detail: 'missing bearer token' });

    const pod = await client.createPod(body('gallery-ro'));
    const ro = createRunPodClient({ apiKey: 'rpa_READONLY', baseUrl: rp.apiUrl });
    try {
      assert.equal((await ro.getPod(pod.id)).id, pod.id);
      const err = await rejectsWith(ro.stopPod(pod.id), RunPodAuthError);
      assert.equal(err.status, 403);
      assert.equal(err.code, 'forbidden');
    } finally {
      await ro.close();
    }
  });

  void test('402 → RunPodInsufficientBalanceError, not retryable', async () => {
    rp.admin.setFaults({ insufficientBalance: true });
    const err = await rejectsWith(client.createPod(body('gallery-broke')), RunPodInsufficientBalanceError);
    assert.equal(err.status, 402);
    assert.equal(err.code, 'insufficient_balance');
    assert.equal(err.retryable, false);
    assert.match(err.message, /balance/i);
  });

  void test('404 unknown pod → RunPodNotFoundError', async () => {
    const err = await rejectsWith(client.getPod('nosuchpod00000'), RunPodNotFoundError);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'not_found');
    assert.equal(err.retryable, false);
    assert.equal(err.path, '/v2/pods/nosuchpod00000');
  });

  void test('409 stop on an EXITED pod, start on a RUNNING pod → RunPodConflictError', async () => {
    const pod = await client.createPod(body('gallery-409'));
    await waitForStatus(client, pod.id, 'RUNNING');
    const startErr = await rejectsWith(client.startPod(pod.id), RunPodConflictError);
    assert.equal(startErr.status, 409);
    await client.stopPod(pod.id);
    const err = await rejectsWith(client.stopPod(pod.id), RunPodConflictError);
    assert.equal(err.code, 'conflict');
    assert.equal(err.retryable, false);
    assert.match(err.message, /EXITED/);
  });

  void test('422 for bodies the OpenAPI schema rejects, with errors[]', async () => {
    const unknownKey = { ...body('gallery-422'), bogus: true } as CreatePodRequest;
    const err = await rejectsWith(client.createPod(unknownKey), RunPodValidationError);
    assert.equal(err.status, 422);
    assert.equal(err.code, 'validation_error');
    assert.equal(err.retryable, false);
    assert.deepEqual(err.errors, ["$: additional properties 'bogus' not allowed"]);

    const v1Shaped = { name: 'x', imageName: 'img', gpuTypeIds: [GPU] } as unknown as CreatePodRequest;
    const err2 = await rejectsWith(client.createPod(v1Shaped), RunPodValidationError);
    assert.ok(err2.errors?.some((e) => e.includes("'imageName'")));
    assert.ok(err2.errors?.some((e) => e.includes("missing property 'image'")));

    const badCount = { ...body('gallery-422b'), gpu: { id: GPU, count: 0 } };
    const err3 = await rejectsWith(client.createPod(badCount), RunPodValidationError);
    assert.ok(err3.errors?.some((e) => e.startsWith('$.gpu.count')));

    const badAction = await fetch(`${rp.apiUrl}/pods/whatever/action`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rp.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'reset' }),
    });
    assert.equal(badAction.status, 422);
    assert.deepEqual(((await badAction.json()) as { errors: string[] }).errors, [
      "$.action: value must be one of 'start', 'stop', 'restart', 'terminate'",
    ]);
    assert.equal(rp.admin.state().podsCreated, 0);
  });

  void test('400 rule violation (not capacity) → RunPodBadRequestError code bad_request', async () => {
    const both = { ...body('gallery-400'), gpu: { id: GPU, allowedCudaVersions: ['12.8'], minCudaVersion: '12.1' } };
    const err = await rejectsWith(client.createPod(both), RunPodError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'bad_request');
    assert.equal(err instanceof RunPodNoCapacityError, false);
  });

  void test('429 → RunPodRateLimitError with retryAfterMs from Retry-After; the next call passes', async () => {
    rp.admin.setFaults({ rateLimited: 1, retryAfterS: 7 });
    const err = await rejectsWith(client.listPods(), RunPodRateLimitError);
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limited');
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 7000);
    assert.deepEqual(await client.listPods(), []);
  });

  void test('5xx → RunPodServerError, retryable; stop fails N times then succeeds', async () => {
    rp.admin.setFaults({ serverErrors: 1 });
    const err = await rejectsWith(client.listGpuTypes(), RunPodServerError);
    assert.equal(err.retryable, true);
    assert.equal(err.code, 'server_error');

    const pod = await client.createPod(body('gallery-stopfail'));
    await waitForStatus(client, pod.id, 'RUNNING');
    rp.admin.setFaults({ stopFailures: 2 });
    await rejectsWith(client.stopPod(pod.id), RunPodServerError);
    await rejectsWith(client.stopPod(pod.id), RunPodServerError);
    assert.equal((await client.getPod(pod.id)).status, 'RUNNING');
    assert.equal((await client.stopPod(pod.id)).status, 'EXITED');
    assert.equal(rp.admin.state().actionCalls.stop, 3);
  });

  void test('timeouts and refused connections → RunPodNetworkError, retryable', async () => {
    rp.admin.setFaults({ delayMs: 400 });
    const err = await rejectsWith(client.listPods({}, { timeoutMs: 100 }), RunPodNetworkError);
    assert.equal(err.code, 'timeout');
    assert.equal(err.retryable, true);
    assert.equal(err.status, 0);
    rp.admin.setFaults({ delayMs: 0 });

    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const dead = createRunPodClient({ apiKey: 'k', baseUrl: `http://127.0.0.1:${deadPort}/v2` });
    try {
      const e2 = await rejectsWith(dead.getPod('x'), RunPodNetworkError);
      assert.equal(e2.code, 'network_error');
      assert.equal(e2.retryable, true);
    } finally {
      await dead.close();
    }
  });

  void test('a caller abort is rethrown as is, not wrapped', async () => {
    rp.admin.setFaults({ delayMs: 300 });
    const ac = new AbortController();
    const reason = new Error('activity cancelled');
    setTimeout(() => ac.abort(reason), 30);
    await assert.rejects(client.listPods({}, { signal: ac.signal }), (e) => e === reason);
  });

  void test('start on a host whose GPU is gone → RunPodHostNoGpuError', async () => {
    const pod = await client.createPod(body('gallery-hostgpu'));
    await waitForStatus(client, pod.id, 'RUNNING');
    await client.stopPod(pod.id);
    rp.admin.setFaults({ hostNoGpuOnStart: 1 });
    const err = await rejectsWith(client.startPod(pod.id), RunPodHostNoGpuError);
    assert.equal(err.code, 'host_no_gpu');
    assert.equal(err.retryable, false);
  });

  void test('v1 paths answer 410 → RunPodGoneError', async () => {
    const v1 = createRunPodClient({ apiKey: rp.apiKey, baseUrl: `${rp.url}/v1` });
    try {
      const err = await rejectsWith(v1.listPods(), RunPodGoneError);
      assert.equal(err.status, 410);
      assert.equal(err.code, 'gone');
    } finally {
      await v1.close();
    }
  });

  void test('a pod stuck in STARTING stays there and the proxy answers 502', async () => {
    rp.admin.setFaults({ stuckInStarting: true });
    const pod = await client.createPod(body('gallery-stuck'));
    await waitForStatus(client, pod.id, 'STARTING');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await client.getPod(pod.id)).status, 'STARTING');
    assert.equal((await fetch(`${client.podProxyUrl(pod.id, 9090)}/api/v1/app/version`)).status, 502);
    assert.equal((await client.stopPod(pod.id)).status, 'EXITED');
  });

  void test('GPU catalog with list prices; one type by id; availability on request', async () => {
    const gpus = await client.listGpuTypes();
    const a5000 = gpus.find((g) => g.id === GPU);
    assert.deepEqual(a5000?.price, { secure: 0.27, community: 0.16 });
    assert.equal(a5000?.availability, undefined);
    const one = await client.getGpuType('NVIDIA GeForce RTX 4090', { availability: true, cloud: 'SECURE' });
    assert.equal(one.price.secure, 0.69);
    assert.equal(one.availability, 'HIGH');
    await rejectsWith(client.getGpuType('NVIDIA Nonexistent'), RunPodNotFoundError);
  });

  void test('podProxyUrl fills the template', () => {
    assert.equal(podProxyUrl('https://{pod_id}-{port}.proxy.runpod.net', 'abc123', 9090), 'https://abc123-9090.proxy.runpod.net');
    const prod = createRunPodClient({ apiKey: 'k' });
    assert.equal(prod.podProxyUrl('5xpma5eg46tqjq', 9090), 'https://5xpma5eg46tqjq-9090.proxy.runpod.net');
    void prod.close();
  });
});

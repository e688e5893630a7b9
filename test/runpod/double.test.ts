/**
 * The RunPod double itself: its answers conform to the v2 OpenAPI response schemas, the proxy honours
 * the readiness delay and forwards WebSocket upgrades, and the admin HTTP API works.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  startRunPodDouble,
  type RunPodDouble,
  type RunPodDoubleFaults,
  type RunPodDoubleState,
} from '../doubles/runpod/server.js';

const spec = JSON.parse(readFileSync(new URL('../doubles/runpod/openapi-v2-schemas.json', import.meta.url), 'utf8')) as object;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema({ ...spec, $id: 'v2' });
const validate = (name: string, value: unknown) => {
  const fn = ajv.getSchema(`v2#/components/schemas/${name}`)!;
  assert.ok(fn(value), `${name}: ${JSON.stringify(fn.errors)}`);
};

void describe('RunPod double', () => {
  let rp: RunPodDouble;
  let upstream: http.Server;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${rp.apiUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${rp.apiKey}`, 'content-type': 'application/json', ...init.headers },
    });
  const admin = (path: string, body?: unknown) =>
    fetch(`${rp.url}/__double${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });

  before(async () => {
    upstream = http.createServer((_req, res) => res.end('ok'));
    upstream.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      socket.write(`hello from ${req.url}`);
      socket.end();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    rp = await startRunPodDouble({
      invokeaiUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      timings: { provisioningMs: 20, startingMs: 20, readyDelayMs: 150 },
    });
  });
  after(async () => {
    await rp.close();
    await new Promise((r) => upstream.close(r));
  });
  beforeEach(() => rp.admin.reset());

  void test('pod, list, catalog and problem bodies match the OpenAPI schemas in every status', async () => {
    const res = await api('/pods', {
      method: 'POST',
      body: JSON.stringify({ name: 'p', image: 'img', gpu: { id: 'NVIDIA L4' }, ports: ['9090/http', '22/tcp'] }),
    });
    assert.equal(res.status, 201);
    const pod = (await res.json()) as { id: string };
    validate('Pod', pod);
    await new Promise((r) => setTimeout(r, 60));
    const running = (await (await api(`/pods/${pod.id}`)).json()) as {
      status: string;
      ssh: { direct: { host: string } | null };
      runtime: { ports: { private: number; ip: string | null }[] };
    };
    assert.equal(running.status, 'RUNNING');
    validate('Pod', running);
    assert.ok(running.ssh.direct, 'ssh.direct once 22/tcp is mapped');
    assert.equal(running.runtime.ports.find((p) => p.private === 22)?.ip, running.ssh.direct?.host);
    validate('ListPodsResponse', await (await api('/pods')).json());
    const stopped = await (await api(`/pods/${pod.id}/action`, { method: 'POST', body: '{"action":"stop"}' })).json();
    validate('Pod', stopped);
    validate('ListGpuTypesResponse', await (await api('/catalog/gpus?include=AVAILABILITY&product=POD')).json());
    const problem = await api('/pods/nope');
    assert.equal(problem.status, 404);
    assert.equal(problem.headers.get('content-type'), 'application/problem+json');
    assert.ok(problem.headers.get('ratelimit'));
    validate('ErrorResponse', await problem.json());
    const terminated = await api(`/pods/${pod.id}/action`, { method: 'POST', body: '{"action":"terminate"}' });
    assert.equal(terminated.status, 204);
  });

  void test('catalog query rules: product required with include; filters only with include', async () => {
    assert.equal((await api('/catalog/gpus?include=AVAILABILITY')).status, 400);
    assert.equal((await api('/catalog/gpus?product=POD')).status, 400);
    assert.equal((await api('/catalog/gpus/NVIDIA%20L4')).status, 200);
  });

  void test('405 with Allow; unknown /v2 path 404; any /v1 path 410', async () => {
    const r405 = await api('/pods', { method: 'PUT' });
    assert.equal(r405.status, 405);
    assert.equal(r405.headers.get('allow'), 'GET, POST');
    assert.equal((await api('/nothing-here')).status, 404);
    const gone = await fetch(`${rp.url}/v1/pods`, { headers: { authorization: `Bearer ${rp.apiKey}` } });
    assert.equal(gone.status, 410);
    assert.equal(((await gone.json()) as { title: string }).title, 'Gone');
  });

  void test('the proxy waits for the readiness delay after RUNNING; unknown pod 404; unexposed port 502', async () => {
    const pod = rp.admin.addPod({ name: 'fresh', status: 'STARTING' }) as { id: string };
    const proxied = (port: number) => fetch(`${rp.url}/proxy/${pod.id}/${port}/api/v1/app/version`);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(rp.admin.state().pods[0]?.status, 'RUNNING');
    assert.equal((await proxied(9090)).status, 502, 'RUNNING but not ready yet');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal((await proxied(9090)).status, 200);
    assert.equal((await proxied(8888)).status, 502);
    assert.equal((await fetch(`${rp.url}/proxy/nosuchpod/9090/`)).status, 404);
    rp.admin.setFaults({ neverReady: true });
    assert.equal((await proxied(9090)).status, 502);
  });

  void test('the proxy forwards WebSocket upgrades (socket.io) to the upstream', async () => {
    const pod = rp.admin.addPod({ name: 'ws' }) as { id: string };
    rp.admin.setPodStatus(pod.id, 'RUNNING');
    const text = await new Promise<string>((resolve, reject) => {
      const s = net.connect(rp.port, '127.0.0.1', () =>
        s.write(
          `GET /proxy/${pod.id}/9090/ws/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
        ),
      );
      let buf = '';
      s.on('data', (d) => (buf += d));
      s.on('end', () => resolve(buf));
      s.on('error', reject);
    });
    assert.match(text, /^HTTP\/1.1 101/);
    assert.match(text, /hello from \/ws\/socket.io\/\?EIO=4&transport=websocket/);
  });

  void test('admin HTTP API: faults, foreign pods, forced status, state counters, reset', async () => {
    assert.equal(((await (await admin('/faults', { stopFailures: 2, bogus: 1 })).json()) as RunPodDoubleFaults).stopFailures, 2);
    const foreign = (await (await admin('/pods', { name: 'not-ours', status: 'EXITED' })).json()) as { id: string; status: string };
    assert.equal(foreign.status, 'EXITED');
    await api('/pods', { method: 'POST', body: JSON.stringify({ name: 'ours', image: 'i', gpu: { id: 'NVIDIA L4' } }) });
    await admin(`/pods/${foreign.id}/status`, { status: 'ERROR' });
    const state = (await (await admin('/state')).json()) as RunPodDoubleState;
    assert.equal(state.createCalls, 1);
    assert.equal(state.podsCreated, 1);
    assert.equal(state.faults.stopFailures, 2);
    assert.equal((state.faults as unknown as Record<string, unknown>).bogus, undefined);
    assert.deepEqual(
      state.pods.map((p) => [p.name, p.foreign]).sort(),
      [['not-ours', true], ['ours', false]],
    );
    assert.equal(state.pods.find((p) => p.name === 'not-ours')?.status, 'ERROR');
    await admin('/reset', {});
    assert.deepEqual(((await (await admin('/state')).json()) as RunPodDoubleState).pods, []);
  });

  void test('billing: cost accrues while the pod bills and stops at EXITED', async () => {
    const pod = rp.admin.addPod({ name: 'bill', gpuTypeId: 'NVIDIA GeForce RTX 4090' }) as { id: string; cost: number };
    assert.equal(pod.cost, 0.69);
    await new Promise((r) => setTimeout(r, 50));
    await api(`/pods/${pod.id}/action`, { method: 'POST', body: '{"action":"stop"}' });
    const s1 = rp.admin.state().pods[0]!;
    await new Promise((r) => setTimeout(r, 30));
    const s2 = rp.admin.state().pods[0]!;
    assert.equal(s2.cost, 0);
    assert.ok(s1.billedMs >= 50);
    assert.equal(s2.billedMs, s1.billedMs, 'no billing while EXITED');
    assert.ok(Math.abs(s2.accruedUsd - (0.69 * s2.billedMs) / 3_600_000) < 1e-12);
  });
});

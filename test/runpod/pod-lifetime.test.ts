/**
 * The pod lifetime workflow against the RunPod double + InvokeAI double + the Temporal dev server,
 * with short timeouts (`settings_json.idle_timeout_seconds`, 0.5 s ticks, ~100 ms double timings):
 * idle stop on time, touch postpones, lease blocks, ghost pod adopted, stop retried until
 * confirmed with cost from the billed rate and lifetime totals, readiness limit, at most one pod
 * workflow, and the key never leaking.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { podSessions } from '../../src/db/schema.js';
import { acquireLeaseUpdate, releaseLeaseSignal, touchSignal } from '../../workflows/messages-pod.js';
import type { podLifetimeWorkflow } from '../../workflows/pod-lifetime.js';
import { assertKeyNeverLeaked, startPodStack, until, type PodStack } from './pod-stack.js';

let s: PodStack;
const workflowIds: string[] = [];
/** Billed rate: the catalog's 0.27 USD/h × 1000, so a cost from the catalog price would be visibly wrong. */
const RATE = 270;

before(async () => {
  s = await startPodStack({ runpod: { billedRateFactor: 1000 } });
});
after(async () => {
  await s?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const handle = (id: string) => s.api.deps.temporal.workflow.getHandle<typeof podLifetimeWorkflow>(id);

/** When the double stopped billing the pod (= when it left the billing statuses), epoch ms. */
function stoppedAt(podId: string): number {
  const p = s.doublePod(podId)!;
  return Date.parse(p.createdAt) + p.billedMs;
}

async function waitStopped(podId: string, status = 'EXITED', timeoutMs = 30_000): Promise<number> {
  await until(`pod ${podId} ${status}`, () => s.doublePod(podId)?.status === status, timeoutMs);
  return stoppedAt(podId);
}

async function start(json: Record<string, unknown>) {
  // The previous pod workflow may still be recording its end: a start now would return it.
  await until('the previous pod session ended', async () => (await s.settings()).currentSessionId === null);
  await s.setSettings({}, json);
  const r = await s.startPod();
  workflowIds.push(r.workflowId);
  return r;
}

test('idle stop: within 5 s of the deadline; backend switched to remote and back; cost recorded', { timeout: 60_000 }, async (t) => {
  const { workflowId, status } = await start({ idle_timeout_seconds: 3 });
  const podId = status.pod_id!;
  assert.equal(status.cost_per_hr, RATE, 'billed rate read from the pod');
  assert.equal(status.cost_source, 'pod');

  const settings = await s.settings();
  assert.equal(settings.backendMode, 'remote');
  assert.equal(settings.remoteBackendUrl, status.url);
  assert.equal(settings.isConnected, true);
  assert.ok(settings.apiVersion);
  const view = await s.call<{ mode: string; url: string; pod: { id: string; state: string; idle_remaining_s: number; cost_per_hr: number } }>('GET', '/api/backend/status');
  assert.equal(view.body.mode, 'remote');
  assert.equal(view.body.url, status.url);
  assert.equal(view.body.pod.id, podId);
  assert.ok(view.body.pod.idle_remaining_s > 0 && view.body.pod.idle_remaining_s <= 3);

  const deadline = Date.parse(status.idle_deadline!);
  const stopped = await waitStopped(podId);
  const late = stopped - deadline;
  t.diagnostic(`idle stop ${late} ms after the deadline`);
  assert.ok(late >= 0, `not before the deadline (${late} ms)`);
  assert.ok(late < 5000, `within 5 s of the deadline (${late} ms late)`);

  const result = await handle(workflowId).result();
  assert.equal(result.reason, 'idle');
  const after = await s.settings();
  assert.equal(after.backendMode, 'local', 'back to local');
  assert.equal(after.currentSessionId, null);
  assert.equal(after.remoteBackendUrl, null);
  const [row] = await s.api.deps.database.db.select().from(podSessions).where(eq(podSessions.workflowId, workflowId));
  assert.equal(row!.state, 'stopped');
  assert.equal(row!.podId, podId);
  assert.ok(row!.readyAt && row!.stoppedAt);
  assert.ok(Math.abs(row!.costUsd! - s.doublePod(podId)!.accruedUsd) < 0.01, `${row!.costUsd} ≈ ${s.doublePod(podId)!.accruedUsd} USD`);
  const done = await s.call<{ pod: unknown; mode: string }>('GET', '/api/backend/status');
  assert.equal(done.body.pod, null);
});

test('a touch postpones the idle stop', { timeout: 60_000 }, async () => {
  const { workflowId, status } = await start({ idle_timeout_seconds: 4 });
  const podId = status.pod_id!;
  const first = Date.parse(status.idle_deadline!);
  await sleep(first - 2000 - Date.now());
  await handle(workflowId).signal(touchSignal);
  const touchedAt = Date.now();
  await sleep(first + 1000 - Date.now());
  assert.equal(s.doublePod(podId)?.status, 'RUNNING', 'still running 1 s after the first deadline');
  const stopped = await waitStopped(podId);
  const late = stopped - (touchedAt + 4000);
  assert.ok(late > -500 && late < 5000, `stopped ${late} ms after the postponed deadline`);
});

test('a lease suspends the idle timer until it is released', { timeout: 60_000 }, async () => {
  const { workflowId, status } = await start({ idle_timeout_seconds: 2 });
  const podId = status.pod_id!;
  const grant = await handle(workflowId).executeUpdate(acquireLeaseUpdate, { args: [{ stepId: 'lease-test-step' }] });
  assert.equal(grant.podId, podId);
  assert.equal(grant.url, status.url);
  const busy = await s.podStatus(workflowId);
  assert.equal(busy.state, 'busy');
  assert.deepEqual(busy.leases, ['lease-test-step']);
  assert.equal(busy.idle_remaining_s, null);
  await sleep(5000);
  assert.equal(s.doublePod(podId)?.status, 'RUNNING', 'not stopped under a lease (2.5× the idle timeout)');
  await handle(workflowId).signal(releaseLeaseSignal, { stepId: 'lease-test-step' });
  const releasedAt = Date.now();
  const stopped = await waitStopped(podId);
  const late = stopped - (releasedAt + 2000);
  assert.ok(late > -500 && late < 5000, `stopped ${late} ms after release + idle timeout`);
});

test('ghost pod: create answers 500 after creating → adopted, exactly one pod', { timeout: 60_000 }, async () => {
  s.runpod.admin.reset();
  s.runpod.admin.setFaults({ createThen500: 1 });
  const { workflowId, status } = await start({ idle_timeout_seconds: 60 });
  const state = s.runpod.admin.state();
  assert.equal(state.podsCreated, 1, 'RunPod made one pod');
  const live = state.pods.filter((p) => p.status !== 'TERMINATED');
  assert.equal(live.length, 1, 'exactly one pod in the account');
  assert.equal(live[0]!.id, status.pod_id, 'the workflow adopted it');
  assert.ok(live[0]!.name.includes(workflowId), 'its name carries the workflow id');

  const stop = await s.call<{ pod_workflow_id: string; status: string }>('POST', '/api/backend/pod/stop', {});
  assert.equal(stop.status, 202);
  assert.equal(stop.body.pod_workflow_id, workflowId);
  assert.equal((await handle(workflowId).result()).reason, 'requested');
  assert.equal(s.doublePod(status.pod_id!)?.status, 'EXITED');
  assert.equal((await s.call('POST', '/api/backend/pod/stop', {})).status, 409, 'nothing left to stop');
});

test('stop fails 5 times → retried until stopped, loud meanwhile; cost from the billed rate; lifetime totals add up', { timeout: 90_000 }, async () => {
  s.runpod.admin.reset();
  await s.setSettings({ lifetimeUsageHours: 10.5, lifetimeCost: 100 });
  const { workflowId, status } = await start({ idle_timeout_seconds: 60 });
  const podId = status.pod_id!;
  await sleep(1000);
  s.runpod.admin.setFaults({ stopFailures: 5 });
  assert.equal((await s.call('POST', '/api/backend/pod/stop', { force: false })).status, 202);
  const loud = await until('a loud status', async () => {
    const r = await s.call<{ pod: { state: string; warning: string | null; stop_failures: number } | null }>('GET', '/api/backend/status');
    return r.body.pod?.state === 'stop_failing' ? r.body.pod : null;
  });
  assert.match(loud.warning!, /STOP KEEPS FAILING/);
  assert.ok(loud.stop_failures >= 3);

  const result = await handle(workflowId).result();
  assert.equal(s.runpod.admin.state().actionCalls.stop, 6, 'five failures, then the stop that worked');
  assert.equal(s.doublePod(podId)?.status, 'EXITED');
  const [row] = await s.api.deps.database.db.select().from(podSessions).where(eq(podSessions.workflowId, workflowId));
  assert.equal(row!.costPerHr, RATE);
  assert.equal(row!.costSource, 'pod');
  const ms = row!.stoppedAt!.getTime() - row!.startedAt!.getTime();
  assert.ok(Math.abs(row!.costUsd! - (RATE * ms) / 3_600_000) < 0.0002, 'cost = billed rate × running time');
  assert.ok(Math.abs(row!.costUsd! - s.doublePod(podId)!.accruedUsd) < 0.02, `${row!.costUsd} ≈ RunPod's ${s.doublePod(podId)!.accruedUsd} USD`);
  assert.ok(row!.costUsd! > 0.3, 'several seconds at 270 USD/h');
  assert.ok(Math.abs(result.costUsd - row!.costUsd!) < 0.0001);
  const settings = await s.settings();
  assert.ok(Math.abs(settings.lifetimeCost! - (100 + row!.costUsd!)) <= 0.006, `lifetime cost ${settings.lifetimeCost}`);
  assert.ok(Math.abs(settings.lifetimeUsageHours! - (10.5 + ms / 3_600_000)) <= 0.006, `lifetime hours ${settings.lifetimeUsageHours}`);
  assert.ok(Math.abs(settings.currentSessionCost! - row!.costUsd!) < 0.0001, 'the last session cost stays visible');
});

test('InvokeAI never answers → terminated after the readiness limit, clear error, mode unchanged', { timeout: 60_000 }, async () => {
  s.runpod.admin.reset();
  s.runpod.admin.setFaults({ neverReady: true });
  await s.setSettings({}, { readiness_timeout_seconds: 2 });
  try {
    const r = await s.call<{ pod_workflow_id: string }>('POST', '/api/backend/pod/start');
    assert.equal(r.status, 202);
    workflowIds.push(r.body.pod_workflow_id);
    await assert.rejects(handle(r.body.pod_workflow_id).result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String((err.cause as Error | undefined)?.message), /did not answer through the RunPod proxy/);
      return true;
    });
    const pods = s.runpod.admin.state().pods;
    assert.equal(pods.length, 1);
    assert.equal(pods[0]!.status, 'TERMINATED', 'a pod that never became usable is terminated');
    const [row] = await s.api.deps.database.db.select().from(podSessions).where(eq(podSessions.workflowId, r.body.pod_workflow_id));
    assert.equal(row!.state, 'failed');
    assert.match(row!.lastError!, /did not answer/);
    assert.equal((await s.settings()).backendMode, 'local');
  } finally {
    s.runpod.admin.setFaults({ neverReady: false });
    await s.setSettings({}, { readiness_timeout_seconds: 20 });
  }
});

test('at most one pod workflow: concurrent starts return the same one; no key → 400', { timeout: 60_000 }, async () => {
  s.runpod.admin.reset();
  await s.setSettings({}, { idle_timeout_seconds: 60 });
  const [a, b] = await Promise.all([s.call<{ pod_workflow_id: string }>('POST', '/api/backend/pod/start'), s.call<{ pod_workflow_id: string }>('POST', '/api/backend/pod/start')]);
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.equal(a.body.pod_workflow_id, b.body.pod_workflow_id);
  workflowIds.push(a.body.pod_workflow_id);
  await until('ready', async () => (await s.podStatus(a.body.pod_workflow_id)).state === 'ready');
  const again = await s.call<{ pod_workflow_id: string; status: string }>('POST', '/api/backend/pod/start');
  assert.equal(again.body.pod_workflow_id, a.body.pod_workflow_id);
  assert.equal(again.body.status, 'ready');
  assert.equal(s.runpod.admin.state().podsCreated, 1);
  await s.call('POST', '/api/backend/pod/stop', { force: true });
  await handle(a.body.pod_workflow_id).result();

  await s.setSettings({ runpodApiKey: null });
  try {
    const r = await s.call<{ error: { code: string; message: string } }>('POST', '/api/backend/pod/start');
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /no RunPod API key/);
  } finally {
    await s.setSettings({ runpodApiKey: (await import('./pod-stack.js')).SECRET_KEY });
  }
});

test('continue-as-new during the session keeps the pod, its lease and its idle timer', { timeout: 60_000 }, async () => {
  s.runpod.admin.reset();
  try {
    const { workflowId, status } = await start({ idle_timeout_seconds: 3, pod_history_events: 60 });
    const firstRun = (await handle(workflowId).describe()).runId;
    await handle(workflowId).executeUpdate(acquireLeaseUpdate, { args: [{ stepId: 'can-step' }] });
    const newRun = await until('continued as new', async () => {
      await handle(workflowId).signal(touchSignal);
      const d = await handle(workflowId).describe();
      return d.runId !== firstRun ? d.runId : null;
    });
    assert.notEqual(newRun, firstRun);
    const carried = await s.podStatus(workflowId);
    assert.equal(carried.pod_id, status.pod_id);
    assert.deepEqual(carried.leases, ['can-step']);
    assert.equal(carried.state, 'busy');
    assert.equal(s.doublePod(status.pod_id!)?.status, 'RUNNING');
    await handle(workflowId).signal(releaseLeaseSignal, { stepId: 'can-step' });
    const releasedAt = Date.now();
    const stopped = await waitStopped(status.pod_id!);
    assert.ok(stopped - (releasedAt + 3000) > -500 && stopped - (releasedAt + 3000) < 5000);
    assert.equal((await handle(workflowId).result()).reason, 'idle');
    assert.equal(s.runpod.admin.state().podsCreated, 1, 'the new run did not create another pod');
  } finally {
    await s.setSettings({}, { pod_history_events: null });
  }
});

test('the RunPod key never appears in API responses, logs or workflow histories', async () => {
  await s.call('GET', '/api/settings');
  await s.call('GET', '/api/backend/status');
  assert.ok(workflowIds.length >= 6);
  await assertKeyNeverLeaked(s, workflowIds);
});

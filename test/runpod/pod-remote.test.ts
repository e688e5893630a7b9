/**
 * Generation in remote mode end to end: `backend_mode` remote → the step starts the pod workflow on
 * demand, takes a lease, enqueues and retrieves through the RunPod double's pod proxy (the local
 * InvokeAI URL answers nothing), releases the lease; and the budget cap reached mid-session: no
 * further enqueue, the pod stops after the in-flight batch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { podLifetimeWorkflow } from '../../workflows/pod-lifetime.js';
import { assertKeyNeverLeaked, startPodStack, until, type PodStack } from './pod-stack.js';

let s: PodStack;
const workflowIds: string[] = [];

before(async () => {
  s = await startPodStack({ settingsJson: { idle_timeout_seconds: 3, pod_tick_seconds: 0.5 } });
});
after(async () => {
  await s?.close();
});

const handle = (id: string) => s.api.deps.temporal.workflow.getHandle<typeof podLifetimeWorkflow>(id);

async function newSession(): Promise<string> {
  const r = await s.call<{ id: string }>('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function addStep(sessionId: string, batchSize = 2): Promise<{ id: string; batch_id: string }> {
  const r = await s.call<{ id: string; batch_id: string }>('POST', `/api/generation/sessions/${sessionId}/steps`, {
    prompt: 'a lighthouse on a remote GPU',
    model_key: s.sdxlKey,
    parameters: { width: 1024, height: 1024, seed: 5 },
    batch_size: batchSize,
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  workflowIds.push(`generation-step/${r.body.id}`);
  return r.body;
}

async function waitForStep(stepId: string, timeoutMs = 60_000) {
  return until(
    `step ${stepId} done`,
    async () => {
      const { body } = await s.call<{ status: string; error_message?: string | null; images?: Array<{ retrieval_status: string }> }>('GET', `/api/generation/steps/${stepId}/status`);
      return body.status === 'completed' || body.status === 'failed' ? body : null;
    },
    timeoutMs,
  );
}

test('remote mode: on-demand pod start, images retrieved through the pod proxy, lease released', { timeout: 120_000 }, async () => {
  const mode = await s.call<{ mode: string; pod: unknown }>('POST', '/api/backend/mode', { mode: 'remote' });
  assert.equal(mode.status, 200);
  assert.equal(mode.body.mode, 'remote');
  assert.equal(mode.body.pod, null, 'no pod yet: it starts with the first step');

  const sessionId = await newSession();
  const step = await addStep(sessionId);
  const done = await waitForStep(step.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(done.images?.length, 2);
  assert.ok(done.images!.every((i) => i.retrieval_status === 'completed'), 'both images retrieved');
  assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[step.batch_id], 1, 'the batch reached InvokeAI (only the pod proxy leads there)');

  const settings = await s.settings();
  assert.equal(settings.backendMode, 'remote');
  assert.match(settings.remoteBackendUrl!, /\/proxy\/[a-z0-9]+\/9090$/);
  const workflowId = `runpod-pod/${settings.currentSessionId}`;
  workflowIds.push(workflowId);
  const pod = await until('the lease released', async () => {
    const st = await s.podStatus(workflowId);
    return st.leases.length === 0 && st.state === 'ready' ? st : null;
  });
  assert.equal(s.runpod.admin.state().podsCreated, 1, 'one pod, started on demand');

  // A second step reuses the running pod.
  const step2 = await addStep(sessionId);
  assert.equal((await waitForStep(step2.id)).status, 'completed');
  assert.equal(s.runpod.admin.state().podsCreated, 1, 'no second pod');

  // Idle afterwards → stopped, back to local.
  await until('idle stop', () => s.doublePod(pod.pod_id!)?.status === 'EXITED', 30_000);
  assert.equal((await handle(workflowId).result()).reason, 'idle');
  assert.equal((await s.settings()).backendMode, 'local');
});

test('local mode: a step that asks for the remote backend starts a pod for itself', { timeout: 120_000 }, async () => {
  await s.call('POST', '/api/backend/mode', { mode: 'local' });
  const created = s.runpod.admin.state().podsCreated;
  const sessionId = await newSession();
  const r = await s.call<{ id: string; batch_id: string }>('POST', `/api/generation/sessions/${sessionId}/steps`, {
    prompt: 'a lighthouse, on a GPU this time', model_key: s.sdxlKey, parameters: { width: 1024, height: 1024, seed: 8 }, batch_size: 1, backend: 'remote',
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  workflowIds.push(`generation-step/${r.body.id}`);
  const done = await waitForStep(r.body.id);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(s.runpod.admin.state().podsCreated, created + 1, 'a pod was started for the step');
  assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[r.body.batch_id], 1, 'the batch went through the pod proxy');
  const workflowId = `runpod-pod/${(await s.settings()).currentSessionId}`;
  workflowIds.push(workflowId);
  await handle(workflowId).result();
  assert.equal((await s.settings()).backendMode, 'local', 'back to local once the pod idles out');
});

test('budget cap reached mid-session: no further enqueue, the pod stops after the in-flight batch', { timeout: 120_000 }, async () => {
  await s.call('POST', '/api/backend/mode', { mode: 'remote' });
  await s.setSettings({}, { idle_timeout_seconds: 60, max_session_cost: null });
  s.invokeai.admin.setItemMs(700);
  try {
    const sessionId = await newSession();
    const step1 = await addStep(sessionId, 4);
    await until('step 1 holds a lease', async () => {
      const id = (await s.settings()).currentSessionId;
      if (!id) return false;
      const st = await s.podStatus(`runpod-pod/${id}`).catch(() => null);
      return st?.leases.includes(step1.id) ?? false;
    });
    const workflowId = `runpod-pod/${(await s.settings()).currentSessionId}`;
    workflowIds.push(workflowId);
    await until('step 1 enqueued', () => s.invokeai.admin.stats().enqueues.byBatchId[step1.batch_id] === 1);
    await s.setSettings({}, { max_session_cost: 0.000001 });
    await until('cap reached', async () => (await s.podStatus(workflowId)).cap_reached);
    const enqueuesBefore = s.invokeai.admin.stats().enqueues.total;

    const step2 = await addStep(sessionId, 1);
    const failed = await waitForStep(step2.id);
    assert.equal(failed.status, 'failed');
    assert.match(String(failed.error_message), /budget cap/);
    const podId = (await s.podStatus(workflowId)).pod_id!;
    assert.equal(s.doublePod(podId)?.status, 'RUNNING', 'not stopped under the in-flight batch');

    const done = await waitForStep(step1.id);
    assert.equal(done.status, 'completed', 'the in-flight batch finished');
    assert.equal(done.images?.length, 4);
    assert.equal(s.invokeai.admin.stats().enqueues.total, enqueuesBefore, 'nothing enqueued after the cap');
    assert.equal(s.invokeai.admin.stats().enqueues.byBatchId[step2.batch_id], undefined, 'step 2 never reached InvokeAI');
    const result = await handle(workflowId).result();
    assert.equal(result.reason, 'budget');
    assert.equal(s.doublePod(podId)?.status, 'EXITED');
  } finally {
    s.invokeai.admin.setItemMs(20);
    await s.setSettings({}, { max_session_cost: null });
  }
});

test('the RunPod key never appears in API responses, logs or workflow histories', async () => {
  await assertKeyNeverLeaked(s, workflowIds);
});

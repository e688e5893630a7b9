/**
 * The orphan sweep: a pod named with our tag whose pod workflow is not running is stopped; the pod
 * of a running pod workflow and untagged pods are left alone. And `ensureSchedules` creates the
 * `runpod-orphan-sweep` schedule idempotently (checked on a test-prefixed copy, so the shared dev
 * server's real schedule is not repointed at this test's task queue).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ensureSchedules, SCHEDULES } from '../../src/temporal/schedules.js';
import { ORPHAN_SWEEP_SCHEDULE_ID, podNameFor, podWorkflowId } from '../../workflows/messages-pod.js';
import type { runpodOrphanSweepWorkflow } from '../../workflows/pod-lifetime.js';
import { startPodStack, type PodStack } from './pod-stack.js';

let s: PodStack;

before(async () => {
  s = await startPodStack({ settingsJson: { idle_timeout_seconds: 60 } });
});
after(async () => {
  await s?.close();
});

test('the sweep stops a tagged pod no workflow owns and leaves owned and untagged pods alone', { timeout: 60_000 }, async () => {
  const owned = await s.startPod();
  const orphan = s.runpod.admin.addPod({ name: podNameFor(podWorkflowId(randomUUID())) }) as { id: string };
  const untagged = s.runpod.admin.addPod({ name: 'my own ComfyUI pod' }) as { id: string };
  const lookalike = s.runpod.admin.addPod({ name: 'photo-gallery notes' }) as { id: string };

  const result = await s.api.deps.temporal.workflow.execute<typeof runpodOrphanSweepWorkflow>('runpodOrphanSweepWorkflow', {
    workflowId: `test-sweep-${randomUUID()}`,
    taskQueue: s.taskQueue,
  });
  assert.deepEqual(result.stopped, [orphan.id]);
  assert.deepEqual(result.owned, [owned.status.pod_id]);
  assert.equal(result.untagged, 2);
  assert.equal(s.doublePod(orphan.id)?.status, 'EXITED', 'the orphan stopped');
  assert.equal(s.doublePod(owned.status.pod_id!)?.status, 'RUNNING', 'the owned pod still runs');
  assert.equal(s.doublePod(untagged.id)?.status, 'RUNNING', 'untagged pods are not ours');
  assert.equal(s.doublePod(lookalike.id)?.status, 'RUNNING');

  await s.call('POST', '/api/backend/pod/stop', { force: true });
  await s.api.deps.temporal.workflow.getHandle(owned.workflowId).result();
  const again = await s.api.deps.temporal.workflow.execute<typeof runpodOrphanSweepWorkflow>('runpodOrphanSweepWorkflow', {
    workflowId: `test-sweep-${randomUUID()}`,
    taskQueue: s.taskQueue,
  });
  assert.deepEqual(again.stopped, [], 'stopped pods are left as they are');
});

test('without an API key the sweep does nothing', { timeout: 30_000 }, async () => {
  const tagged = s.runpod.admin.addPod({ name: podNameFor(podWorkflowId(randomUUID())) }) as { id: string };
  const key = (await s.settings()).runpodApiKey;
  await s.setSettings({ runpodApiKey: null });
  try {
    const result = await s.api.deps.temporal.workflow.execute<typeof runpodOrphanSweepWorkflow>('runpodOrphanSweepWorkflow', {
      workflowId: `test-sweep-${randomUUID()}`,
      taskQueue: s.taskQueue,
    });
    assert.equal(result.skipped, 'no RunPod API key');
    assert.equal(s.doublePod(tagged.id)?.status, 'RUNNING');
  } finally {
    await s.setSettings({ runpodApiKey: key });
  }
});

test('ensureSchedules creates the sweep schedule, then updates it in place', { timeout: 30_000 }, async () => {
  const sweep = SCHEDULES.find((d) => d.id === ORPHAN_SWEEP_SCHEDULE_ID);
  assert.ok(sweep, 'the orphan sweep is among the schedules');
  assert.equal(sweep.workflowType, 'runpodOrphanSweepWorkflow');
  const copy = { ...sweep, id: `test-${randomUUID()}-${sweep.id}` };
  const client = s.api.deps.temporal;
  try {
    const first = await ensureSchedules(client, { TEMPORAL_TASK_QUEUE: s.taskQueue }, [copy]);
    assert.deepEqual(first.created, [copy.id]);
    const second = await ensureSchedules(client, { TEMPORAL_TASK_QUEUE: `${s.taskQueue}-moved` }, [copy]);
    assert.deepEqual(second.created, [], 'the second call updates');
    const d = await client.schedule.getHandle(copy.id).describe();
    assert.equal(d.action.type, 'startWorkflow');
    assert.equal(d.action.workflowType, 'runpodOrphanSweepWorkflow');
    assert.equal(d.action.taskQueue, `${s.taskQueue}-moved`);
    assert.equal(d.spec.intervals?.[0]?.every, 5 * 60_000);
  } finally {
    await client.schedule.getHandle(copy.id).delete().catch(() => undefined);
  }
});

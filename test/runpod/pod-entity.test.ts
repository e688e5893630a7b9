/**
 * Unit tests without Temporal: the pod entity's rules (idle deadline, leases, budget cap, cost,
 * continue-as-new carry), pod names and tags, the pod settings, and how RunPod errors become
 * activity failures (429 → `nextRetryDelay`, no capacity → non-retryable).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { toActivityFailure } from '../../activities/index.js';
import { classifyRunPodResponse } from '../../src/runpod/errors.js';
import { podSettingsFrom } from '../../src/runpod/pod-service.js';
import type { Settings } from '../../src/settings/service.js';
import { podNameFor, podWorkflowId, POD_NAME_TAG, workflowIdFromPodName } from '../../workflows/messages-pod.js';
import { PodEntity } from '../../workflows/pod-entity.js';

const T0 = Date.parse('2026-11-21T12:00:00Z');

function servingPod(): PodEntity {
  const pod = new PodEntity(T0);
  Object.assign(pod, { state: 'ready', podId: 'abc', url: 'http://x', startedAtMs: T0, rate: { usdPerHour: 3.6, source: 'pod' } });
  pod.settings = { idleTimeoutS: 60, maxSessionCostUsd: null, maxSessionHours: null, tickS: 10, stopAction: 'stop', historyEvents: null };
  return pod;
}

test('idle deadline: restarted by touch, suspended by a lease, restarted by its release', () => {
  const pod = servingPod();
  assert.equal(pod.idleDeadlineMs(), T0 + 60_000);
  assert.equal(pod.stopDue(T0 + 59_999), null);
  assert.equal(pod.stopDue(T0 + 60_000), 'idle');
  pod.touch(T0 + 30_000);
  assert.equal(pod.stopDue(T0 + 60_000), null);
  pod.acquire('step-1', T0 + 40_000);
  assert.equal(pod.state, 'busy');
  assert.equal(pod.idleDeadlineMs(), null);
  assert.equal(pod.stopDue(T0 + 3_600_000), null, 'never idle under a lease');
  pod.release('step-1', T0 + 3_600_000);
  assert.equal(pod.state, 'ready');
  assert.equal(pod.idleDeadlineMs(), T0 + 3_660_000);
});

test('stop request waits for leases unless forced; leases refused while stopping', () => {
  const pod = servingPod();
  pod.acquire('step-1', T0);
  pod.requestStop('requested');
  assert.equal(pod.stopDue(T0 + 1000), null);
  assert.equal(pod.leaseRefusal(T0 + 1000), 'pod_stopping');
  pod.release('step-1', T0 + 2000);
  assert.equal(pod.stopDue(T0 + 2000), 'requested');
  const forced = servingPod();
  forced.acquire('step-1', T0);
  forced.requestStop('requested', true);
  assert.equal(forced.stopDue(T0), 'requested');
});

test('budget cap: cost = rate × running time; reached → no lease, stop after the in-flight ones', () => {
  const pod = servingPod();
  pod.settings = { ...pod.settings, maxSessionCostUsd: 1 };
  assert.ok(Math.abs(pod.costUsd(T0 + 500_000) - 0.5) < 1e-9, '3.6 USD/h × 500 s = 0.5 USD');
  assert.equal(pod.leaseRefusal(T0 + 500_000), null);
  pod.acquire('step-1', T0 + 500_000);
  assert.equal(pod.leaseRefusal(T0 + 1_000_000), 'budget_exceeded');
  assert.equal(pod.stopDue(T0 + 1_000_000), null, 'the in-flight batch finishes');
  assert.equal(pod.capReached, true);
  pod.release('step-1', T0 + 1_100_000);
  assert.equal(pod.stopDue(T0 + 1_100_000), 'budget');
  const hours = servingPod();
  hours.settings = { ...hours.settings, maxSessionHours: 0.5 };
  assert.equal(hours.stopDue(T0 + 1_800_000), 'budget');
});

test('not ready yet → pod_not_ready; continue-as-new carries leases and timers', () => {
  const creating = new PodEntity(T0);
  assert.equal(creating.leaseRefusal(T0), 'pod_not_ready');
  const pod = servingPod();
  pod.acquire('step-1', T0 + 5);
  const again = new PodEntity(T0 + 10, pod.carry());
  assert.deepEqual(again.status('w', T0 + 10), pod.status('w', T0 + 10));
  assert.deepEqual(again.leasesOlderThan(T0 + 6), ['step-1']);
});

test('pod names carry the workflow id; only our tag parses', () => {
  const id = podWorkflowId('0b6f4c7e-8a55-4c1e-9a3e-6a1b2c3d4e5f');
  assert.ok(podNameFor(id).startsWith(POD_NAME_TAG));
  assert.equal(workflowIdFromPodName(podNameFor(id)), id);
  assert.equal(workflowIdFromPodName('my own pod'), null);
  assert.equal(workflowIdFromPodName('photo-gallery runpod-pod/not-a-uuid'), null);
});

test('pod settings: seed GPU names mapped, seconds override minutes, defaults', () => {
  const base = { runpodPodType: 'NVIDIA A5000', idleTimeoutMinutes: 30, settingsJson: {} } as unknown as Settings;
  const ps = podSettingsFrom(base);
  assert.equal(ps.gpuTypeId, 'NVIDIA RTX A5000');
  assert.equal(ps.idleTimeoutS, 1800);
  assert.equal(ps.readinessTimeoutS, 900);
  assert.equal(ps.stopAction, 'stop');
  assert.deepEqual(ps.createBody.ports, ['9090/http']);
  assert.equal(ps.createBody.env?.INVOKEAI_ROOT, '/workspace/invokeai');
  const tuned = podSettingsFrom({ ...base, settingsJson: { idle_timeout_seconds: 5, pod_stop_action: 'terminate', max_session_cost: 2.5 } } as Settings);
  assert.equal(tuned.idleTimeoutS, 5);
  assert.equal(tuned.stopAction, 'terminate');
  assert.equal(tuned.maxSessionCostUsd, 2.5);
});

test('RunPod errors as activity failures: 429 waits Retry-After, no capacity is not retried, 5xx is', () => {
  const fail = (status: number, detail: string, headers: Record<string, string> = {}) =>
    toActivityFailure(classifyRunPodResponse({ status, method: 'POST', path: '/pods', bodyText: JSON.stringify({ status, detail }), headers, redact: (t) => t })) as ApplicationFailure;
  const limited = fail(429, 'slow down', { 'retry-after': '7' });
  assert.ok(limited instanceof ApplicationFailure);
  assert.equal(limited.nextRetryDelay, 7000);
  assert.equal(limited.nonRetryable, false);
  assert.equal(fail(400, 'There are no longer any instances available with the requested specifications.').nonRetryable, true);
  assert.equal(fail(402, 'Insufficient balance').nonRetryable, true);
  assert.equal(fail(500, 'Something went wrong').nonRetryable, false);
});

/**
 * The idle stop survives the worker: the real worker process (`src/worker.ts`) is SIGKILLed during
 * the idle wait and a new one started; the durable timer fires on the server and the new worker
 * stops the pod on time (within 5 s of the deadline). Its output never shows the RunPod key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { podLifetimeWorkflow } from '../../workflows/pod-lifetime.js';
import { assertKeyNeverLeaked, spawnPodWorker, startPodStack, until, type PodStack } from './pod-stack.js';

let s: PodStack;
let worker: ChildProcess | undefined;

before(async () => {
  // 20 s idle: room for a cold worker start (bundling) after the kill; a 60 s tick so the idle
  // deadline is the only timer that can wake the workflow.
  s = await startPodStack({ worker: 'none', settingsJson: { idle_timeout_seconds: 20, pod_tick_seconds: 60 } });
});
after(async () => {
  worker?.kill('SIGKILL');
  await s?.close();
});

async function kill(): Promise<void> {
  const w = worker!;
  const exited = new Promise((r) => w.once('exit', r));
  w.kill('SIGKILL');
  await exited;
  worker = undefined;
}

test('worker SIGKILLed during the idle wait and restarted → the pod still stops on time', { timeout: 150_000 }, async (t) => {
  worker = spawnPodWorker(s);
  const { workflowId, status } = await s.startPod(90_000);
  const podId = status.pod_id!;
  const deadline = Date.parse(status.idle_deadline!);
  await new Promise((r) => setTimeout(r, 2000));
  await kill();
  const killedAt = Date.now();
  worker = spawnPodWorker(s);

  await until('pod stopped', () => s.doublePod(podId)?.status === 'EXITED', 60_000);
  const p = s.doublePod(podId)!;
  const stoppedAt = Date.parse(p.createdAt) + p.billedMs;
  const late = stoppedAt - deadline;
  t.diagnostic(`killed ${deadline - killedAt} ms before the deadline; stopped ${late} ms after it`);
  assert.ok(late >= 0, `not before the deadline (${late} ms)`);
  assert.ok(late < 5000, `within 5 s of the deadline (${late} ms late)`);
  const result = await s.api.deps.temporal.workflow.getHandle<typeof podLifetimeWorkflow>(workflowId).result();
  assert.equal(result.reason, 'idle');
  assert.equal((await s.settings()).backendMode, 'local');
  await assertKeyNeverLeaked(s, [workflowId]);
});

/**
 * The session's life as a person and an operator see it: progress as Server-Sent Events, sessions
 * and steps findable in Temporal by search attribute, the query answering the session's state,
 * and a session abandoning itself after its inactivity period.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { applicationSettings } from '../../src/db/schema.js';
import { sessionStateQuery } from '../../workflows/messages.js';
import { SessionEntity } from '../../workflows/session-entity.js';
import { startGenerationStack, type GenerationStack } from '../helpers/generation.js';

let s: GenerationStack;
before(async () => {
  s = await startGenerationStack({ invokeai: { itemMs: 150 } });
});
after(async () => {
  await s?.close();
});

test('events stream step status and progress until the step completes', { timeout: 60_000 }, async () => {
  const session = (await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' })).body as { id: string };
  const controller = new AbortController();
  const res = await fetch(`${s.api.url}/api/generation/sessions/${session.id}/events`, { signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const step = (await s.call('POST', `/api/generation/sessions/${session.id}/steps`, {
    prompt: 'progress bars', model_key: s.sd1Key, parameters: { width: 512, height: 512, seed: 9 }, batch_size: 3,
  })).body as { id: string };

  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  while (!events.some((e) => e.event === 'step' && e.data.status === 'completed')) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
  }
  controller.abort();
  assert.deepEqual(events[0], { event: 'session', data: { status: 'active' } });
  const mine = events.filter((e) => e.event === 'step' && e.data.id === step.id);
  const statuses = mine.map((e) => e.data.status);
  assert.equal(statuses.at(-1), 'completed');
  assert.ok(statuses.includes('processing'), `saw processing: ${statuses.join(',')}`);
  const doneCounts = mine.map((e) => (e.data.progress as { items_done?: number } | null)?.items_done ?? 0);
  assert.ok(new Set(doneCounts).size >= 2, `progress moved: ${doneCounts.join(',')}`);
});

test('sessions and steps are findable by search attribute; the query answers the state', { timeout: 60_000 }, async () => {
  const session = (await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' })).body as { id: string; workflow_id: string };
  const step = (await s.call('POST', `/api/generation/sessions/${session.id}/steps`, {
    prompt: 'findable', model_key: s.sd1Key, parameters: { width: 512, height: 512, seed: 11 }, batch_size: 1,
  })).body as { id: string };
  await s.waitForStep(step.id);
  // The step's row is final before its stepFinished signal reaches the session: poll the query.
  const handle = s.api.deps.temporal.workflow.getHandle(session.workflow_id);
  let state = await handle.query(sessionStateQuery);
  for (let i = 0; i < 50 && state.steps[0]?.status !== 'completed'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    state = await handle.query(sessionStateQuery);
  }
  assert.equal(state.status, 'active');
  assert.equal(state.recorded, true);
  assert.deepEqual(state.steps.map((x) => [x.stepId, x.position, x.status]), [[step.id, 1, 'completed']]);

  const found = new Map<string, string>();
  for (let i = 0; i < 50 && found.size < 2; i++) {
    for await (const wf of s.api.deps.temporal.workflow.list({ query: `SessionId = "${session.id}"` })) found.set(wf.workflowId, wf.type);
    if (found.size < 2) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(found.get(`generation-session/${session.id}`), 'generationSessionWorkflow');
  assert.equal(found.get(`generation-step/${step.id}`), 'generationStepWorkflow');
  const description = await s.api.deps.temporal.workflow.getHandle(session.workflow_id).describe();
  assert.match((await description.staticSummary()) ?? "", /scratch session/);
});

test('a session without messages abandons itself after its inactivity period', { timeout: 60_000 }, async () => {
  const { db } = s.api.deps.database;
  await db.update(applicationSettings).set({ settingsJson: { session_inactivity_hours: 2 / 3600 } }).where(eq(applicationSettings.id, 1));
  try {
    const session = (await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' })).body as { id: string; workflow_id: string };
    const result = await s.api.deps.temporal.workflow.getHandle(session.workflow_id).result();
    assert.deepEqual(result, { status: 'abandoned' });
    const row = (await s.call('GET', `/api/generation/sessions/${session.id}`)).body as { status: string; completed_at: string | null };
    assert.equal(row.status, 'abandoned');
    assert.ok(row.completed_at);
  } finally {
    await db.update(applicationSettings).set({ settingsJson: {} }).where(eq(applicationSettings.id, 1));
  }
});

test('session entity: positions, idempotent steps, compact carry-over', () => {
  const e = new SessionEntity('s1', 'scratch');
  assert.equal(e.nextPosition(), 1);
  e.addStep({ stepId: 'a', position: 1, status: 'pending', batchId: 'b1' });
  e.addStep({ stepId: 'a', position: 1, status: 'pending', batchId: 'b1' });
  e.addStep({ stepId: 'b', position: 2, status: 'pending', batchId: 'b2' });
  assert.equal(e.state.steps.length, 2);
  assert.equal(e.nextPosition(), 3);
  assert.equal(e.step('b')?.batchId, 'b2');
  e.finishStep('a', 'completed');
  e.end('completed');
  e.end('abandoned');
  assert.equal(e.state.status, 'completed', 'the first end wins');
  const next = new SessionEntity('s1', 'scratch', e.carry());
  assert.equal(next.state.recorded, true);
  assert.equal(next.nextPosition(), 3);
  assert.deepEqual(next.state.steps.map((x) => x.status), ['completed', 'pending']);
});

test('a long session continues as new and keeps its steps', { timeout: 90_000 }, async () => {
  const { db } = s.api.deps.database;
  await db.update(applicationSettings).set({ settingsJson: { session_history_events: 30 } }).where(eq(applicationSettings.id, 1));
  try {
    const session = (await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' })).body as { id: string; workflow_id: string };
    const firstRun = (await s.api.deps.temporal.workflow.getHandle(session.workflow_id).describe()).runId;
    const stepIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await s.call('POST', `/api/generation/sessions/${session.id}/steps`, {
        prompt: `step ${i}`, model_key: s.sd1Key, parameters: { width: 512, height: 512, seed: i }, batch_size: 1,
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      stepIds.push((r.body as { id: string }).id);
      await s.waitForStep(stepIds.at(-1)!);
    }
    const handle = s.api.deps.temporal.workflow.getHandle(session.workflow_id);
    const now = await handle.describe();
    assert.notEqual(now.runId, firstRun, 'the session continued as new');
    assert.equal(now.status.name, 'RUNNING');
    const state = await handle.query(sessionStateQuery);
    assert.deepEqual(state.steps.map((x) => x.stepId), stepIds, 'steps carried over');
    assert.deepEqual(state.steps.map((x) => x.position), [1, 2, 3, 4]);
  } finally {
    await db.update(applicationSettings).set({ settingsJson: {} }).where(eq(applicationSettings.id, 1));
  }
});

test('a step waits with a clear status while InvokeAI does not answer, then goes on', { timeout: 60_000 }, async () => {
  s.invokeai.admin.setFaults({ resetRate: 1, pathPattern: '/app/version$' });
  try {
    const session = (await s.call('POST', '/api/generation/sessions', { entry_type: 'scratch' })).body as { id: string };
    const step = (await s.call('POST', `/api/generation/sessions/${session.id}/steps`, {
      prompt: 'patience', model_key: s.sd1Key, parameters: { width: 512, height: 512, seed: 3 }, batch_size: 1,
    })).body as { id: string };
    let status: { status: string; progress: { stage?: string; message?: string } | null } | undefined;
    for (let i = 0; i < 100; i++) {
      status = (await s.call('GET', `/api/generation/steps/${step.id}/status`)).body as typeof status;
      if (status?.progress?.stage === 'waiting_for_backend') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status?.status, 'pending', 'waiting, not failed');
    assert.equal(status?.progress?.stage, 'waiting_for_backend');
    assert.match(status?.progress?.message ?? '', /does not answer/);
    s.invokeai.admin.setFaults({ resetRate: 0, pathPattern: null });
    const done = await s.waitForStep(step.id);
    assert.equal(done.status, 'completed');
  } finally {
    s.invokeai.admin.setFaults({ resetRate: 0, pathPattern: null });
  }
});

/**
 * Records the remote-mode histories the replay test (`test/generation/replay.test.ts`) replays
 * besides the local ones: a generation step that ran on a RunPod pod (lease, touches, release) and
 * the pod lifetime workflow it started on demand (create, ready, idle loop, idle stop). Runs
 * against the RunPod and InvokeAI doubles. Re-run after a deliberate change to either workflow.
 *
 *   source /tmp/dev-env.sh && npx tsx scripts/record-pod-histories.ts
 */
import { saveHistory } from './histories.js';
import { startPodStack, until, type PodStack } from '../test/runpod/pod-stack.js';


const save = (s: PodStack, name: string, workflowId: string) => saveHistory(s.api.deps.config, name, workflowId);

const s = await startPodStack({ settingsJson: { idle_timeout_seconds: 2, pod_tick_seconds: 1 } });
try {
  await s.call('POST', '/api/backend/mode', { mode: 'remote' });
  const session = await s.call<{ id: string }>('POST', '/api/generation/sessions', { entry_type: 'scratch' });
  const step = await s.call<{ id: string }>('POST', `/api/generation/sessions/${session.body.id}/steps`, {
    prompt: 'a lighthouse on a remote GPU',
    model_key: s.sdxlKey,
    parameters: { width: 1024, height: 1024, seed: 1 },
    batch_size: 2,
  });
  const stepWorkflowId = `generation-step/${step.body.id}`;
  await s.api.deps.temporal.workflow.getHandle(stepWorkflowId).result();
  const sessionId = (await s.settings()).currentSessionId;
  const podWorkflowId = `runpod-pod/${sessionId}`;
  await s.api.deps.temporal.workflow.getHandle(podWorkflowId).result();
  await until('pod session recorded', async () => (await s.settings()).currentSessionId === null);
  await s.call('PATCH', `/api/generation/sessions/${session.body.id}`, { status: 'completed' });
  await save(s, 'remote-step-1', stepWorkflowId);
  await save(s, 'remote-pod', podWorkflowId);
} finally {
  await s.close();
}

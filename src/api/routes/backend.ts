/**
 * `/api/backend/*`: which InvokeAI generation uses (local or a RunPod pod), the pod's status and
 * cost, and starting/stopping the pod. Thin handlers over `src/runpod/pod-service.ts`; the pod
 * itself is the `runpod-pod/<uuid>` Temporal workflow. The RunPod key never appears here.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { backendStatus, requestPodStop, setBackendMode, startPodWorkflow } from '../../runpod/pod-service.js';
import { temporalUiUrl } from '../../temporal/connection.js';
import { errorResponses, type App, type AppDeps } from '../http.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const PodSchema = z
  .object({
    id: z.string().nullable().openapi({ description: 'RunPod pod id' }),
    workflow_id: z.string(),
    state: z.string().openapi({ description: 'creating | starting | ready | busy | stopping | stop_failing | stopped | failed' }),
    started_at: z.string().nullable(),
    uptime_s: z.number(),
    cost_usd_so_far: z.number().openapi({ description: 'USD: billed rate × running time' }),
    cost_per_hr: z.number().nullable().openapi({ description: 'USD/h as RunPod bills it' }),
    idle_remaining_s: z.number().nullable().openapi({ description: 'seconds until the idle stop; null while a batch holds a lease' }),
    leases: z.array(z.string()).openapi({ description: 'generation steps running a batch on the pod' }),
    cap_reached: z.boolean(),
    stop_failures: z.number(),
    last_error: z.string().nullable(),
    warning: z.string().nullable(),
  })
  .openapi('Pod');

const StatusSchema = z
  .object({
    mode: z.enum(['local', 'remote']),
    url: z.string().nullable(),
    connected: z.boolean(),
    api_version: z.string().nullable(),
    pod: PodSchema.nullable(),
    lifetime_cost: z.number().openapi({ description: 'USD' }),
    lifetime_usage_hours: z.number(),
  })
  .openapi('BackendStatus');

const PodAccepted = z
  .object({
    pod_workflow_id: z.string(),
    status: z.string(),
    temporal_ui_url: z.url(),
  })
  .openapi('PodAccepted');

/** Registers `GET /api/backend/status`, `POST /api/backend/mode`, `POST /api/backend/pod/start|stop`. */
export function registerBackendRoutes(app: App, deps: AppDeps): void {
  const { db } = deps.database;
  const svc = { db, temporal: deps.temporal, config: deps.config };
  const ui = (workflowId: string) => temporalUiUrl(deps.config, workflowId);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/backend/status',
      tags: ['backend'],
      summary: 'Backend mode, connection, the RunPod pod (state, uptime, cost so far, idle time left) and lifetime totals',
      responses: { 200: json(StatusSchema, 'Status') },
    }),
    async (c) => c.json(await backendStatus(svc), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/backend/mode',
      tags: ['backend'],
      summary: 'Switch between the local InvokeAI and a RunPod pod (remote mode starts a pod on the next generation step)',
      request: { body: { content: { 'application/json': { schema: z.object({ mode: z.enum(['local', 'remote']) }).strict() } }, required: true } },
      responses: { 200: json(StatusSchema, 'Status after the switch'), ...errorResponses(400) },
    }),
    async (c) => {
      await setBackendMode(db, c.req.valid('json').mode);
      return c.json(await backendStatus(svc), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/backend/pod/start',
      tags: ['backend'],
      summary: 'Start a RunPod pod (or return the one running): 202, the pod workflow creates it and waits for InvokeAI',
      responses: { 202: json(PodAccepted, 'Starting (or already running)'), ...errorResponses(400) },
    }),
    async (c) => {
      const r = await startPodWorkflow({ ...svc, taskQueue: deps.config.TEMPORAL_TASK_QUEUE });
      const status = r.started ? 'starting' : ((await backendStatus(svc)).pod?.state ?? 'starting');
      return c.json({ pod_workflow_id: r.workflowId, status, temporal_ui_url: ui(r.workflowId) }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/backend/pod/stop',
      tags: ['backend'],
      summary: 'Stop the RunPod pod once running batches finish (`force`: at once); retried until RunPod confirms',
      request: {
        body: { content: { 'application/json': { schema: z.object({ force: z.boolean().optional() }).strict() } }, required: false },
      },
      responses: { 202: json(PodAccepted.extend({ leases: z.array(z.string()) }), 'Stopping'), ...errorResponses(409) },
    }),
    async (c) => {
      const body = (c.req.header('content-type')?.includes('json') ? c.req.valid('json') : undefined) ?? {};
      const { workflowId, status } = await requestPodStop(svc, body.force === true);
      return c.json({ pod_workflow_id: workflowId, status: 'stopping', leases: status.leases, temporal_ui_url: ui(workflowId) }, 202);
    },
  );
}

/**
 * `/api/generation/*`: sessions and steps. Thin handlers over `src/generation/service.ts`; every
 * change goes through the session's Temporal workflow, and every response that names a session
 * or step carries its Temporal Web UI link.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import {
  addStep,
  createSession,
  endSession,
  getSession,
  getStepStatus,
  listSessions,
  retryStepRetrievals,
  selectImage,
  stepSnapshots,
} from '../../generation/service.js';
import { errorResponses, IdParam, type App, type AppDeps } from '../http.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: 'a retried request with the same key returns the first one\'s result instead of creating another' }),
});

const Links = { workflow_id: z.string(), temporal_ui_url: z.url() };
const Session = z
  .object({
    id: z.uuid(),
    status: z.enum(['active', 'completed', 'abandoned']),
    entry_type: z.enum(['scratch', 'refinement']),
    source_image_id: z.uuid().nullable(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    ...Links,
  })
  .openapi('GenerationSession');
const StepImage = z
  .object({
    id: z.uuid(),
    url: z.string(),
    thumbnail_url: z.string(),
    selected: z.boolean(),
    retrieval_status: z.string().nullable(),
    retrieval_attempts: z.number().nullable(),
    retrieval_error: z.string().nullable(),
    invoke_id: z.string().nullable().openapi({ description: 'InvokeAI image_name' }),
    seed: z.number().nullable(),
  })
  .openapi('StepImage');
const RetrievalStats = z.object({ total: z.number(), retrieved: z.number(), failed: z.number() });
const Progress = z
  .record(z.string(), z.unknown())
  .nullable()
  .openapi({ description: '`{stage, items_done, items_total, message?}` as the step workflow publishes it' });
const Step = z
  .object({
    id: z.uuid(),
    session_id: z.uuid(),
    parent_id: z.uuid().nullable(),
    position: z.number(),
    status: z.enum(['pending', 'processing', 'completed', 'failed']),
    prompt: z.string(),
    negative_prompt: z.string().nullable(),
    model_key: z.string(),
    model_name: z.string().nullable(),
    parameters: z.record(z.string(), z.unknown()),
    batch_id: z.string().openapi({ description: 'InvokeAI batch_id, chosen before enqueueing' }),
    batch_size: z.number().nullable(),
    item_ids: z.array(z.number()).openapi({ description: 'InvokeAI queue item ids' }),
    selected_image_id: z.uuid().nullable(),
    progress: Progress,
    error_message: z.string().nullable(),
    created_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    images: z.array(StepImage),
    retrieval_stats: RetrievalStats,
    ...Links,
  })
  .openapi('GenerationStep');
const SessionWithSteps = Session.extend({ steps: z.array(Step) }).openapi('GenerationSessionWithSteps');
const StepStatus = z
  .object({
    id: z.uuid(),
    session_id: z.uuid(),
    status: Step.shape.status,
    batch_id: z.string(),
    progress: Progress,
    error_message: z.string().nullable(),
    images: z.array(StepImage),
    retrieval_stats: RetrievalStats,
    ...Links,
  })
  .openapi('GenerationStepStatus');

const CreateSessionBody = z
  .object({
    entry_type: z.enum(['scratch', 'refinement']),
    source_image_id: z.uuid().nullable().optional(),
  })
  .strict();
const AddStepBody = z
  .object({
    prompt: z.string().trim().min(1).max(4000),
    negative_prompt: z.string().max(4000).nullable().optional(),
    model_key: z.string().min(1),
    parameters: z
      .object({
        width: z.number().int().positive().openapi({ description: 'px, multiple of 8' }),
        height: z.number().int().positive().openapi({ description: 'px, multiple of 8' }),
        steps: z.number().int().positive(),
        cfg_scale: z.number().min(1),
        scheduler: z.string(),
        seed: z.number().int().min(0).max(4294967295).optional(),
        strength: z.number().gt(0).max(1).optional().openapi({ description: 'image-to-image: how much of the source is re-noised' }),
      })
      .partial()
      .strict()
      .optional(),
    batch_size: z.number().int().min(1).optional(),
    parent_id: z.uuid().nullable().optional(),
    backend: z
      .enum(['local', 'remote'])
      .optional()
      .openapi({ description: '`remote`: run this step on a RunPod pod, started on demand, even in local mode' }),
  })
  .strict()
  .openapi('AddStep');

const routes = {
  createSession: createRoute({
    method: 'post',
    path: '/api/generation/sessions',
    tags: ['generation'],
    summary: 'Start a generation session (and its Temporal workflow)',
    request: { headers: IdempotencyHeader, body: { content: { 'application/json': { schema: CreateSessionBody } }, required: true } },
    responses: { 201: json(SessionWithSteps, 'The session'), ...errorResponses(400, 404) },
  }),
  listSessions: createRoute({
    method: 'get',
    path: '/api/generation/sessions',
    tags: ['generation'],
    summary: 'List sessions, newest first',
    request: {
      query: z.object({
        status: z.enum(['active', 'completed', 'abandoned']).optional(),
        limit: z.coerce.number().int().min(1).max(200).default(50),
        offset: z.coerce.number().int().min(0).default(0),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(Session), total: z.number(), limit: z.number(), offset: z.number() }), 'Sessions'), ...errorResponses(400) },
  }),
  getSession: createRoute({
    method: 'get',
    path: '/api/generation/sessions/{id}',
    tags: ['generation'],
    summary: 'A session with its steps in position order, each with its alternatives',
    request: { params: IdParam },
    responses: { 200: json(SessionWithSteps, 'The session'), ...errorResponses(400, 404) },
  }),
  endSession: createRoute({
    method: 'patch',
    path: '/api/generation/sessions/{id}',
    tags: ['generation'],
    summary: 'Complete or abandon a session (ends its workflow)',
    request: {
      params: IdParam,
      body: { content: { 'application/json': { schema: z.object({ status: z.enum(['completed', 'abandoned']) }).strict() } }, required: true },
    },
    responses: { 200: json(SessionWithSteps, 'The session'), ...errorResponses(400, 404, 409) },
  }),
  addStep: createRoute({
    method: 'post',
    path: '/api/generation/sessions/{id}/steps',
    tags: ['generation'],
    summary: 'Add a step: InvokeAI generates batch_size images, retrieved in the background',
    request: { params: IdParam, headers: IdempotencyHeader, body: { content: { 'application/json': { schema: AddStepBody } }, required: true } },
    responses: {
      202: json(
        z.object({ id: z.uuid(), session_id: z.uuid(), batch_id: z.string(), position: z.number(), status: z.string(), ...Links }),
        'The step was recorded and its workflow started',
      ),
      ...errorResponses(400, 404, 409),
    },
  }),
  stepStatus: createRoute({
    method: 'get',
    path: '/api/generation/steps/{id}/status',
    tags: ['generation'],
    summary: "A step's status, progress and images",
    request: { params: IdParam },
    responses: { 200: json(StepStatus, 'The step'), ...errorResponses(400, 404) },
  }),
  select: createRoute({
    method: 'post',
    path: '/api/generation/steps/{id}/select',
    tags: ['generation'],
    summary: 'Select one alternative of a step',
    request: { params: IdParam, body: { content: { 'application/json': { schema: z.object({ image_id: z.uuid() }).strict() } }, required: true } },
    responses: { 200: json(StepStatus, 'The step'), ...errorResponses(400, 404, 409) },
  }),
  retry: createRoute({
    method: 'post',
    path: '/api/generation/steps/{id}/retry-retrievals',
    tags: ['generation'],
    summary: "Retry the step's failed image retrievals",
    request: { params: IdParam },
    responses: { 202: json(z.object({ photo_ids: z.array(z.uuid()) }), 'Retrievals started again'), ...errorResponses(400, 404) },
  }),
  events: createRoute({
    method: 'get',
    path: '/api/generation/sessions/{id}/events',
    tags: ['generation'],
    summary: "Server-Sent Events: each step's status and progress as they change",
    request: { params: IdParam },
    responses: {
      200: {
        description: '`event: step` with a step snapshot `{id, position, status, progress, images_retrieved, images_failed, error_message}`; `event: session` with `{status}`',
        content: { 'text/event-stream': { schema: z.string() } },
      },
      ...errorResponses(400, 404),
    },
  }),
};

/** How often the event stream looks for changes (ms). */
const EVENTS_POLL_MS = 300;

/** Registers the generation routes. */
export function registerGenerationRoutes(app: App, deps: AppDeps): void {
  app.openapi(routes.createSession, async (c) => {
    const session = await createSession(deps, c.req.valid('json'), c.req.valid('header')['idempotency-key']);
    return c.json(session as never, 201);
  });
  app.openapi(routes.listSessions, async (c) => c.json(await listSessions(deps, c.req.valid('query')) as never, 200));
  app.openapi(routes.getSession, async (c) => c.json(await getSession(deps, c.req.valid('param').id) as never, 200));
  app.openapi(routes.endSession, async (c) =>
    c.json(await endSession(deps, c.req.valid('param').id, c.req.valid('json').status) as never, 200),
  );
  app.openapi(routes.addStep, async (c) => {
    const step = await addStep(deps, c.req.valid('param').id, c.req.valid('json'), c.req.valid('header')['idempotency-key']);
    return c.json(step as never, 202);
  });
  app.openapi(routes.stepStatus, async (c) => c.json(await getStepStatus(deps, c.req.valid('param').id) as never, 200));
  app.openapi(routes.select, async (c) =>
    c.json(await selectImage(deps, c.req.valid('param').id, c.req.valid('json').image_id) as never, 200),
  );
  app.openapi(routes.retry, async (c) => c.json(await retryStepRetrievals(deps, c.req.valid('param').id) as never, 202));
  app.openapi(routes.events, async (c) => {
    const sessionId = c.req.valid('param').id;
    await getSession(deps, sessionId); // 404 before the stream starts
    return streamSSE(c, async (stream) => {
      const last = new Map<string, string>();
      let lastSession = '';
      let id = 0;
      let rounds = 0;
      while (!stream.aborted) {
        const snap = await stepSnapshots(deps.database.db, sessionId);
        for (const step of snap.steps) {
          const text = JSON.stringify(step);
          if (last.get(step.id) !== text) {
            last.set(step.id, text);
            await stream.writeSSE({ event: 'step', data: text, id: String(++id) });
          }
        }
        if (snap.sessionStatus && snap.sessionStatus !== lastSession) {
          lastSession = snap.sessionStatus;
          await stream.writeSSE({ event: 'session', data: JSON.stringify({ status: lastSession }), id: String(++id) });
        }
        // Keep proxies from closing an idle stream.
        if (++rounds % 50 === 0) await stream.write(': keep-alive\n\n');
        await stream.sleep(EVENTS_POLL_MS);
      }
    });
  });
}

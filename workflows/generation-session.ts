/**
 * A generation session (`generation-session/<session id>`): the entity workflow that owns the
 * session's life. It stays open while the session is active (days if need be, on a durable timer),
 * takes Updates to add a step, select an alternative, retry failed retrievals and end the session,
 * answers a Query with its state, abandons itself after a period without messages, and continues
 * as new before its history grows too long.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { generationStepWorkflow } from './generation-step.js';
import {
  addStepUpdate,
  endSessionUpdate,
  photoRetrievalWorkflowId,
  retryRetrievalsUpdate,
  selectAlternativeUpdate,
  sessionReadyUpdate,
  sessionStateQuery,
  stepFinishedSignal,
  stepWorkflowId,
  type SessionState,
} from './messages.js';
import { photoRetrievalWorkflow } from './photo-retrieval.js';
import { SessionIdKey, SessionStatusKey, StepIdKey, StepStatusKey } from './search-attributes.js';
import { SessionEntity } from './session-entity.js';

const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});
// A selection copies files; a refused one (not an alternative, not retrieved) is not retried.
const files = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '500ms', maximumInterval: '10s', maximumAttempts: 10 },
});

/** Input of the session workflow; `carried` is the state handed over by continue-as-new. */
export interface GenerationSessionInput {
  sessionId: string;
  entryType: 'scratch' | 'refinement';
  sourceImageId: string | null;
  /** ms without a message after which the session is abandoned (default 7 days) */
  inactivityTimeoutMs?: number;
  /** continue as new once history has this many events (default: when the server suggests it) */
  continueAsNewAfterEvents?: number;
  carried?: Pick<SessionState, 'steps' | 'lastActivityMs'>;
}

const SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000;

/** The session's entity workflow. Returns its final status. */
export async function generationSessionWorkflow(input: GenerationSessionInput): Promise<{ status: SessionState['status'] }> {
  const session = new SessionEntity(input.sessionId, input.entryType, input.carried);
  const inactivity = input.inactivityTimeoutMs ?? SEVEN_DAYS_MS;
  let touched = false;
  // Update handlers that call activities take turns, so two addStep calls never interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  const mustBeActive = () => {
    if (session.state.status !== 'active') throw ApplicationFailure.nonRetryable(`session is ${session.state.status}`, 'conflict');
  };

  const historyTooLong = () =>
    workflowInfo().continueAsNewSuggested ||
    (input.continueAsNewAfterEvents !== undefined && workflowInfo().historyLength >= input.continueAsNewAfterEvents);

  setHandler(sessionStateQuery, () => session.state);
  // Update, not signal: the API answers with the session only once its row exists.
  setHandler(sessionReadyUpdate, async () => {
    await condition(() => session.state.recorded);
    return session.state;
  });

  setHandler(
    addStepUpdate,
    (step) =>
      serially(async () => {
        const existing = session.step(step.stepId);
        if (existing) return { stepId: existing.stepId, batchId: existing.batchId, status: existing.status, position: existing.position };
        mustBeActive();
        const record = await catalog.createStepRecord({
          ...step,
          sessionId: input.sessionId,
          batchId: uuid4(),
          correlationId: uuid4(),
          position: session.nextPosition(),
        });
        session.addStep({ stepId: record.stepId, position: record.position, status: 'pending', batchId: record.batchId });
        touched = true;
        try {
          await startChild(generationStepWorkflow, {
            workflowId: stepWorkflowId(record.stepId),
            args: [{ stepId: record.stepId, sessionId: input.sessionId }],
            // A step finishes its retrievals even when the session ends or continues as new.
            parentClosePolicy: ParentClosePolicy.ABANDON,
            typedSearchAttributes: [
              { key: SessionIdKey, value: input.sessionId },
              { key: StepIdKey, value: record.stepId },
              { key: StepStatusKey, value: 'pending' },
            ],
            staticSummary: `step ${record.position} of session ${input.sessionId}`,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
        return { stepId: record.stepId, batchId: record.batchId, status: record.status, position: record.position };
      }),
    { validator: (_step) => mustBeActive() },
  );

  setHandler(selectAlternativeUpdate, (args) =>
    serially(async () => {
      touched = true;
      return files.selectAlternative(args);
    }),
  );

  setHandler(retryRetrievalsUpdate, ({ stepId }) =>
    serially(async () => {
      touched = true;
      const photoIds = await catalog.failedPhotosOfStep({ stepId });
      for (const photoId of photoIds) {
        try {
          await startChild(photoRetrievalWorkflow, {
            workflowId: photoRetrievalWorkflowId(photoId),
            args: [{ photoId, resetAttempts: true }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            staticSummary: `retry retrieval of photo ${photoId}`,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
      }
      return { photoIds };
    }),
  );

  setHandler(
    endSessionUpdate,
    ({ status }) =>
      serially(async () => {
        if (session.state.status === 'active') {
          await catalog.endSessionRecord({ sessionId: input.sessionId, status });
          session.end(status);
        }
        return { status: session.state.status === 'active' ? status : (session.state.status as typeof status) };
      }),
    {
      validator: ({ status }) => {
        if (status !== 'completed' && status !== 'abandoned') throw new Error('status must be completed or abandoned');
      },
    },
  );

  setHandler(stepFinishedSignal, ({ stepId, status }) => {
    session.finishStep(stepId, status);
    touched = true;
  });

  if (!session.state.recorded) {
    await catalog.ensureSessionRecord({
      sessionId: input.sessionId,
      entryType: input.entryType,
      sourceImageId: input.sourceImageId,
      workflowId: workflowInfo().workflowId,
    });
    session.markRecorded();
  }

  while (session.state.status === 'active') {
    setCurrentDetails(session.details());
    const active = await condition(() => touched || session.state.status !== 'active' || historyTooLong(), inactivity);
    if (!active) {
      log.info('session abandoned after inactivity', { sessionId: input.sessionId, inactivityMs: inactivity });
      await catalog.endSessionRecord({ sessionId: input.sessionId, status: 'abandoned' });
      session.end('abandoned');
      break;
    }
    touched = false;
    session.state.lastActivityMs = Date.now();
    if (historyTooLong() && session.state.status === 'active') {
      await condition(allHandlersFinished);
      return continueAsNew<typeof generationSessionWorkflow>({ ...input, carried: session.carry() });
    }
  }
  upsertSearchAttributes([{ key: SessionStatusKey, value: session.state.status }]);
  setCurrentDetails(session.details());
  await condition(allHandlersFinished);
  return { status: session.state.status };
}

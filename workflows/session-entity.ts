/**
 * The session's state and its rules as a plain class, so unit tests can exercise them without
 * Temporal (the "safe message handlers" pattern). Deterministic: no I/O, no clocks.
 */
import type { SessionState, StepSummary } from './messages.js';

/** A step as the session keeps it. */
export type SessionStep = StepSummary;

/** State of one generation session. */
export class SessionEntity {
  readonly state: SessionState;

  constructor(sessionId: string, entryType: SessionState['entryType'], carried?: Pick<SessionState, 'steps' | 'lastActivityMs'>) {
    this.state = {
      sessionId,
      entryType,
      status: 'active',
      recorded: Boolean(carried),
      steps: carried ? [...carried.steps] : [],
      lastActivityMs: carried?.lastActivityMs ?? 0,
    };
  }

  /** The step with `stepId`, if the session has it. */
  step(stepId: string): SessionStep | undefined {
    return this.state.steps.find((x) => x.stepId === stepId);
  }

  /** Position of the next step: one after the highest so far (1-based). */
  nextPosition(): number {
    return this.state.steps.reduce((m, s) => Math.max(m, s.position), 0) + 1;
  }

  addStep(step: SessionStep): void {
    if (this.state.steps.some((s) => s.stepId === step.stepId)) return;
    this.state.steps.push({ ...step });
  }

  finishStep(stepId: string, status: StepSummary['status']): void {
    const s = this.state.steps.find((x) => x.stepId === stepId);
    if (s) s.status = status;
  }

  markRecorded(): void {
    this.state.recorded = true;
  }

  end(status: 'completed' | 'abandoned'): void {
    if (this.state.status === 'active') this.state.status = status;
  }

  /** What continue-as-new carries: compact, ids and statuses only. */
  carry(): Pick<SessionState, 'steps' | 'lastActivityMs'> {
    return { steps: this.state.steps, lastActivityMs: this.state.lastActivityMs };
  }

  /** Markdown for the Web UI's "current details". */
  details(): string {
    const lines = this.state.steps.map((s) => `- step ${s.position} \`${s.stepId}\`: ${s.status}`);
    return [`**session ${this.state.status}** (${this.state.entryType}), ${this.state.steps.length} steps`, ...lines].join('\n');
  }
}

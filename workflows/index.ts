/**
 * Every workflow the worker runs. The worker bundles this file (and what it imports) into the
 * Temporal sandbox: only deterministic code belongs here — no I/O, no Node built-ins (ESLint
 * enforces it). Activities are imported as types only.
 */
export { generationSessionWorkflow } from './generation-session.js';
export { generationStepWorkflow } from './generation-step.js';
export { photoRetrievalWorkflow } from './photo-retrieval.js';
export {
  expireShareLinksWorkflow,
  purgeTrashWorkflow,
  reconcileStorageWorkflow,
  refreshModelsWorkflow,
  retryFailedRetrievalsWorkflow,
} from './maintenance.js';
export { podLifetimeWorkflow, runpodOrphanSweepWorkflow } from './pod-lifetime.js';

/**
 * The model cache refresh the schedule runs every 15 minutes: only while InvokeAI answers. In
 * remote mode with no pod running, or when the backend does not answer its version probe, the run
 * is skipped (not failed), so a stopped pod does not turn the schedule red.
 */
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { backendUrl } from '../generation/backend.js';
import { getInvokeAIClient } from '../invokeai/client.js';
import { InvokeAIError } from '../invokeai/errors.js';
import { refreshModels, type RefreshModelsResult } from '../models/refresh.js';
import { getSettings } from '../settings/service.js';

/** A refresh that ran, or why it did not. */
export type RefreshModelCacheResult =
  | ({ refreshed: true; backendUrl: string } & Omit<RefreshModelsResult, 'defaultVaes'>)
  | { refreshed: false; reason: string };

/** How long the liveness probe may take, ms. */
const PROBE_TIMEOUT_MS = 5000;

/**
 * Refreshes the `models` table from the backend in use, if it answers.
 * @throws the database error, or InvokeAI's error when it answered the probe but failed the listing
 */
export async function refreshModelCache(db: Db, config: Pick<Config, 'INVOKEAI_LOCAL_URL'>): Promise<RefreshModelCacheResult> {
  const url = backendUrl(await getSettings(db), config);
  if (!url) return { refreshed: false, reason: 'remote mode: no pod is running' };
  const client = getInvokeAIClient(url);
  try {
    await client.getAppVersion({ signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch (err) {
    if (err instanceof InvokeAIError && !err.retryable) throw err;
    return { refreshed: false, reason: `InvokeAI at ${url} does not answer: ${(err as Error).message}` };
  }
  const { upserted, missing, returned } = await refreshModels(db, client);
  return { refreshed: true, backendUrl: url, upserted, missing, returned };
}

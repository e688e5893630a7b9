/**
 * Which InvokeAI the generation steps talk to: the local one (INVOKEAI_LOCAL_URL or
 * `local_backend_url`), or in remote mode the RunPod pod's proxy URL (`remote_backend_url`).
 */
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { getInvokeAIClient, type InvokeAIClient } from '../invokeai/client.js';
import { getSettings, invokeaiLocalUrl, type Settings } from '../settings/service.js';

/** The base URL of the backend in use, or `undefined` in remote mode while no pod URL is known. */
export function backendUrl(settings: Settings, config: Pick<Config, 'INVOKEAI_LOCAL_URL'>): string | undefined {
  if (settings.backendMode === 'remote') return settings.remoteBackendUrl ?? undefined;
  return invokeaiLocalUrl(settings, config);
}

/**
 * The shared client for the backend in use.
 * @throws Error when remote mode has no pod URL yet (the caller waits for the pod)
 */
export async function backendClient(db: Db, config: Pick<Config, 'INVOKEAI_LOCAL_URL'>): Promise<InvokeAIClient> {
  const url = backendUrl(await getSettings(db), config);
  if (!url) throw new Error('remote mode: no pod is running yet');
  return getInvokeAIClient(url);
}

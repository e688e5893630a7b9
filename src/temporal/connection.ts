/**
 * Connecting to Temporal: retried until a deadline, because on a busy 2-core machine the dev server
 * may still be starting when we are.
 */
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.js';

/** The Temporal Web UI link for a workflow id (URL-encoded), e.g. for API responses. */
export function temporalUiUrl(config: Pick<Config, 'TEMPORAL_UI_URL' | 'TEMPORAL_NAMESPACE'>, workflowId: string): string {
  return `${config.TEMPORAL_UI_URL}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(workflowId)}`;
}

/**
 * Connects a client to `address` (host:port), retrying every 250 ms until `timeoutMs` (default 30 s).
 * @throws the last connection error once the deadline has passed
 */
export async function connectTemporal(options: {
  address: string;
  namespace: string;
  timeoutMs?: number;
}): Promise<{ connection: Connection; client: Client }> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    try {
      const connection = await Connection.connect({ address: options.address, connectTimeout: '5s' });
      await connection.workflowService.getSystemInfo({});
      return { connection, client: new Client({ connection, namespace: options.namespace }) };
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

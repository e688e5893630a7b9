/**
 * Saving a workflow's history for the replay test, as the Temporal CLI exports it
 * (`temporal workflow show -o json`). Used by the scripts that record `test/histories/`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../src/config.js';

/** Where the replay test reads its histories. */
export const HISTORIES_DIR = path.resolve(import.meta.dirname, '../test/histories');

/**
 * Writes the history of `workflowId` to `test/histories/<name>.json`.
 * @throws the CLI's error when the workflow does not exist or the server does not answer
 */
export async function saveHistory(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>, name: string, workflowId: string): Promise<void> {
  const cli = path.resolve(import.meta.dirname, '../.tools/bin/temporal');
  const { stdout } = await promisify(execFile)(
    cli,
    ['workflow', 'show', '--workflow-id', workflowId, '--address', config.TEMPORAL_ADDRESS!, '--namespace', config.TEMPORAL_NAMESPACE, '-o', 'json'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  await fs.mkdir(HISTORIES_DIR, { recursive: true });
  await fs.writeFile(path.join(HISTORIES_DIR, `${name}.json`), stdout);
  console.log(`recorded ${name} (${(JSON.parse(stdout) as { events: unknown[] }).events.length} events)`);
}

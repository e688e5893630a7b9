/**
 * Runs bench scripts as child processes against services from `scripts/services.ts` (the
 * environment's DATABASE_URL / TEMPORAL_ADDRESS, or an embedded PostgreSQL and a Temporal dev
 * server started here and stopped at the end). Children get the services through their
 * environment, as `npm test` does, since the config module is the one reader of `process.env`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { childEnv } from '../../src/config.js';
import { startServices, type Services } from '../../scripts/services.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Starts the services, runs each script (a path relative to the repository) in turn with `--expose-gc`,
 * stops the services. `onResult` sees each script's exit code.
 * @returns the scripts that exited non-zero
 */
export async function runWithServices(
  /** script paths relative to the root, each optionally followed by its arguments (`bench/soak-run.ts --remote`) */
  scripts: string[], onStart?: (script: string) => void): Promise<string[]> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'photo-gallery-bench-'));
  let services: Services | undefined;
  const failed: string[] = [];
  try {
    services = await startServices(tmp);
    for (const script of scripts) {
      onStart?.(script);
      const code = await new Promise<number>((resolve) => {
        const [file, ...args] = script.split(' ');
        const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(ROOT, file!), ...args], {
          cwd: ROOT,
          stdio: 'inherit',
          env: childEnv({ DATABASE_URL: services!.databaseUrl, TEMPORAL_ADDRESS: services!.temporalAddress, LOG_LEVEL: 'silent' }),
        });
        child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
      });
      if (code !== 0) failed.push(script);
    }
  } finally {
    await services?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return failed;
}

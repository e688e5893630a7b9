/**
 * Replays the recorded histories in `test/histories/` (a normal session, one with retrieval
 * retries, a refinement session, and their steps) against today's workflow code: a change that
 * would break running workflows (non-determinism) fails here. Re-record with
 * `scripts/record-histories.ts` after a deliberate change guarded by `patched()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { installQuietRuntime, workflowBundle } from '../helpers/generation.js';

const DIR = path.resolve(import.meta.dirname, '../histories');

test('recorded histories replay without non-determinism', { timeout: 120_000 }, async () => {
  installQuietRuntime();
  const files = (await fs.readdir(DIR)).filter((f) => f.endsWith('.json')).sort();
  for (const kind of ['normal-session', 'retrieval-retries-session', 'refinement-session', 'normal-step-1', 'normal-step-2', 'retrieval-retries-step-1', 'refinement-step-1']) {
    assert.ok(files.includes(`${kind}.json`), `history ${kind} is recorded`);
  }
  const histories = await Promise.all(
    files.map(async (f) => ({ workflowId: f.replace(/\.json$/, ''), history: JSON.parse(await fs.readFile(path.join(DIR, f), 'utf8')) as unknown })),
  );
  const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories);
  let replayed = 0;
  for await (const r of results) {
    assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
    replayed++;
  }
  assert.equal(replayed, files.length);
});

/**
 * What every benchmark shares: percentiles, the result file `bench/results/<name>.json`, and a
 * plain-text line per figure on stdout. Figures carry their unit in the key (`p99_ms`,
 * `images_per_s`, `peak_rss_mb`); a benchmark with a floor puts `pipeline/floor` at the top as `ratio`.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Where result files go. */
export const RESULTS_DIR = path.resolve(import.meta.dirname, '../results');

/** The `p`-th percentile (0–100) of `values` by nearest rank; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** `n` rounded to `digits` decimals. */
export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A target the figures are checked against (reported, never a failed test). */
export interface Target {
  /** e.g. `ratio >= 0.85` */
  what: string;
  met: boolean;
}

/**
 * Writes `bench/results/<name>.json` (figures + machine context) and prints the figures, the ratio
 * and the targets. Returns the path written.
 */
export async function report(name: string, figures: Record<string, unknown>, targets: Target[] = []): Promise<string> {
  const body = {
    name,
    measured_at: new Date().toISOString(),
    ...figures,
    targets: Object.fromEntries(targets.map((t) => [t.what, t.met])),
    machine: { cpus: os.cpus().length, loadavg_1m: round(os.loadavg()[0]!, 2), node: process.version },
  };
  await fs.mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  await fs.writeFile(file, JSON.stringify(body, null, 2) + '\n');
  console.log(`\n== ${name} ==`);
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(34)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  for (const t of targets) console.log(`  target ${t.what.padEnd(27)} ${t.met ? 'met' : 'NOT MET'}`);
  console.log(`  (load average ${body.machine.loadavg_1m} on ${body.machine.cpus} cores; written to ${path.relative(process.cwd(), file)})`);
  return file;
}

/** Resident set size now, MiB. */
export function rssMb(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

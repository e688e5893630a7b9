/**
 * CLI: `npm run invokeai:double -- --port 9090 [--host 127.0.0.1] [--item-ms 200] [--seed 1]`.
 * Environment (a test tool, so it may read process.env): INVOKEAI_DOUBLE_ITEM_MS (ms per queue
 * item, default 200), INVOKEAI_DOUBLE_PORT, INVOKEAI_DOUBLE_SEED, INVOKEAI_DOUBLE_FAULTS (JSON,
 * e.g. `{"error5xxRate":0.1,"latencyMs":50}`). Faults can also be changed while running:
 * `curl -X POST localhost:9090/__double/faults -d '{"failNextItems":1}'`.
 */
import { parseArgs } from 'node:util';
import { startInvokeAIDouble } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'item-ms': { type: 'string' },
    seed: { type: 'string' },
  },
});

const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
const env = process.env;
const double = await startInvokeAIDouble({
  port: num(values.port) ?? num(env.INVOKEAI_DOUBLE_PORT) ?? 9090,
  host: values.host ?? '127.0.0.1',
  itemMs: num(values['item-ms']) ?? num(env.INVOKEAI_DOUBLE_ITEM_MS) ?? 200,
  seed: num(values.seed) ?? num(env.INVOKEAI_DOUBLE_SEED),
  faults: env.INVOKEAI_DOUBLE_FAULTS ? JSON.parse(env.INVOKEAI_DOUBLE_FAULTS) : undefined,
});
console.log(`InvokeAI double listening on ${double.url} (admin: ${double.url}/__double/stats)`);

const stop = () => {
  void double.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

/**
 * CLI for the RunPod double:
 *   npm run runpod:double -- --port 9191 --invokeai-url http://127.0.0.1:9090 [--api-key rpa_…]
 *     [--provisioning-ms 100] [--starting-ms 200] [--runtime-ms 0] [--ready-delay-ms 0]
 * Point the backend at it with RUNPOD_API_URL=<url>/v2, RUNPOD_API_KEY=<key> and
 * RUNPOD_PROXY_URL_TEMPLATE=<url>/proxy/{pod_id}/{port}. Faults: POST <url>/__double/faults.
 */
import { parseArgs } from 'node:util';
import { startRunPodDouble } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9191' },
    host: { type: 'string', default: '127.0.0.1' },
    'invokeai-url': { type: 'string' },
    'api-key': { type: 'string', default: 'rpa_DOUBLE_KEY' },
    'provisioning-ms': { type: 'string' },
    'starting-ms': { type: 'string' },
    'runtime-ms': { type: 'string' },
    'ready-delay-ms': { type: 'string' },
  },
});

const ms = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const timings = Object.fromEntries(
  Object.entries({
    provisioningMs: ms(values['provisioning-ms']),
    startingMs: ms(values['starting-ms']),
    runtimeMs: ms(values['runtime-ms']),
    readyDelayMs: ms(values['ready-delay-ms']),
  }).filter(([, v]) => v !== undefined),
);

const double = await startRunPodDouble({
  port: Number(values.port),
  host: values.host,
  invokeaiUrl: values['invokeai-url'],
  apiKey: values['api-key'],
  timings,
});

process.stdout.write(
  [
    `RunPod double listening on ${double.url}`,
    `  RUNPOD_API_URL=${double.apiUrl}`,
    `  RUNPOD_PROXY_URL_TEMPLATE=${double.proxyUrlTemplate}`,
    `  proxy forwards to ${values['invokeai-url'] ?? '(nothing: --invokeai-url not set)'}`,
    `  admin: GET ${double.url}/__double/state, POST ${double.url}/__double/faults`,
    '',
  ].join('\n'),
);

const stop = () => void double.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

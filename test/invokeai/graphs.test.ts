/**
 * Every graph the builders can produce validates against the real InvokeAI OpenAPI and is
 * accepted by the double; the seed's own graph is refused (reference §9); bad parameters are
 * refused before anything is sent.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CID_METADATA_KEY,
  OUTPUT_NODE_ID,
  GraphParameterError,
  buildImageToImageBatch,
  buildTextToImageBatch,
  expandSeeds,
  stepDestination,
  type EnqueueBatchBody,
  type GenerationGraphInput,
  type ModelRecordLike,
} from '../../src/invokeai/graphs/index.js';
import { createInvokeAIClient, type InvokeAIClient } from '../../src/invokeai/client.js';
import { InvokeAIValidationError } from '../../src/invokeai/errors.js';
import { validateEnqueueBatchSchema } from '../helpers/invokeai-openapi.js';
import { startInvokeAIDouble, type InvokeAIDouble } from '../doubles/invokeai/server.js';
import { DOUBLE_MODEL_KEYS, defaultDoubleModels } from '../doubles/invokeai/models.js';
import { checkEnqueueBatch } from '../doubles/invokeai/validate.js';

const record = (key: string): ModelRecordLike => {
  const m = defaultDoubleModels().find((x) => x.key === key)!;
  return { key: m.key as string, hash: m.hash as string, name: m.name as string, base: m.base as string, type: m.type as string };
};
const MODELS = {
  sdxl: { main: record(DOUBLE_MODEL_KEYS.sdxlMain), vae: record(DOUBLE_MODEL_KEYS.sdxlVaeFp16), size: 1024 },
  'sd-1': { main: record(DOUBLE_MODEL_KEYS.sd1Main), vae: record(DOUBLE_MODEL_KEYS.sd1Vae), size: 512 },
} as const;

function input(base: 'sdxl' | 'sd-1', over: Partial<GenerationGraphInput> = {}): GenerationGraphInput {
  const m = MODELS[base];
  return {
    stepId: '0b4b7f5e-8a51-4a8e-9d3e-2f0d1e3c4b5a',
    batchId: crypto.randomUUID(),
    correlationId: 'c0ffee00-0000-4000-8000-000000000001',
    model: m.main,
    prompt: 'a lighthouse at dusk, [oil painting]',
    negativePrompt: 'blurry',
    width: m.size,
    height: m.size,
    steps: 30,
    cfgScale: 7.5,
    scheduler: 'euler',
    seeds: [42],
    ...over,
  };
}

let double: InvokeAIDouble;
let client: InvokeAIClient;

before(async () => {
  double = await startInvokeAIDouble({ itemMs: 0, seed: 1 });
  double.admin.pause(); // validation only: nothing needs to run
  client = createInvokeAIClient({ baseUrl: double.url });
});
after(async () => {
  await client.close();
  await double.close();
});

describe('every builder output validates against the real OpenAPI and is accepted by the double', () => {
  const cases: { name: string; body: () => EnqueueBatchBody }[] = [];
  for (const mode of ['t2i', 'i2i'] as const) {
    for (const base of ['sdxl', 'sd-1'] as const) {
      for (const vae of [false, true]) {
        for (const board of [false, true]) {
          for (const n of [1, 4]) {
            cases.push({
              name: `${mode} ${base} vae=${vae} board=${board} n=${n}`,
              body: () => {
                const i = input(base, {
                  seeds: expandSeeds(7, n),
                  vae: vae ? MODELS[base].vae : undefined,
                  boardId: board ? 'board-1' : undefined,
                });
                return mode === 't2i'
                  ? buildTextToImageBatch(i)
                  : buildImageToImageBatch({
                      ...i,
                      initImage: { imageName: 'init.png', width: i.width, height: i.height },
                      strength: 0.35,
                    });
              },
            });
          }
        }
      }
    }
  }
  for (const c of cases) {
    test(c.name, async () => {
      const body = c.body();
      assert.deepEqual(validateEnqueueBatchSchema(body), []);
      assert.deepEqual(checkEnqueueBatch(body), []);
      const r = await client.enqueueBatch(body);
      assert.equal(r.batch.batch_id, body.batch.batch_id);
      assert.equal(r.enqueued, body.batch.data![0]![0]!.items.length);
      assert.equal(r.item_ids.length, r.enqueued);
    });
  }
});

describe('graph shape', () => {
  test('output node, metadata with the CID key, untouched prompt, one zip group', () => {
    const i = input('sdxl', { seeds: expandSeeds(100, 4), boardId: 'b1' });
    const body = buildTextToImageBatch(i);
    const { graph, data } = body.batch;
    const out = graph.nodes[OUTPUT_NODE_ID]!;
    assert.equal(out.type, 'l2i');
    assert.equal(out.is_intermediate, false);
    assert.equal(out.use_cache, false);
    assert.deepEqual(out.board, { board_id: 'b1' });
    assert.equal(graph.nodes.pos!.prompt, i.prompt, 'the prompt is exactly what the user typed');
    assert.ok(!JSON.stringify(graph.nodes.pos).includes(i.correlationId), 'no CID in what the model sees');
    assert.equal(graph.nodes.meta![CID_METADATA_KEY], i.correlationId);
    assert.equal(graph.nodes.meta!.positive_prompt, i.prompt);
    assert.deepEqual(graph.nodes.model!.model, MODELS.sdxl.main);
    assert.equal(body.batch.origin, 'photo-gallery');
    assert.equal(body.batch.destination, stepDestination(i.stepId));
    assert.equal(body.batch.destination, `photo-gallery:step:${i.stepId}`);
    assert.equal(data!.length, 1);
    assert.deepEqual(
      data![0]!.map((d) => [d.node_path, d.field_name, d.items]),
      [
        ['noise', 'seed', [100, 101, 102, 103]],
        ['meta', 'seed', [100, 101, 102, 103]],
      ],
    );
    assert.ok(graph.edges.some((e) => e.source.node_id === 'meta' && e.destination.node_id === OUTPUT_NODE_ID && e.destination.field === 'metadata'));
  });

  test('separate vae_loader only when a VAE is passed; otherwise the loader VAE feeds l2i', () => {
    const own = buildTextToImageBatch(input('sdxl')).batch.graph;
    assert.equal(own.nodes.vae, undefined);
    assert.ok(own.edges.some((e) => e.source.node_id === 'model' && e.source.field === 'vae' && e.destination.node_id === 'out'));
    const sep = buildTextToImageBatch(input('sdxl', { vae: MODELS.sdxl.vae })).batch.graph;
    assert.equal(sep.nodes.vae!.type, 'vae_loader');
    assert.deepEqual(sep.nodes.vae!.vae_model, MODELS.sdxl.vae);
    assert.deepEqual(sep.nodes.meta!.vae, MODELS.sdxl.vae);
    assert.ok(sep.edges.some((e) => e.source.node_id === 'vae' && e.destination.node_id === 'out' && e.destination.field === 'vae'));
    assert.ok(!sep.edges.some((e) => e.source.node_id === 'model' && e.source.field === 'vae'));
  });

  test('image-to-image: i2l of the init image, denoising_start = 1 − strength, noise at the init size', () => {
    const i = input('sd-1', { width: 640, height: 384 });
    const g = buildImageToImageBatch({ ...i, initImage: { imageName: 'x.png', width: 640, height: 384 }, strength: 0.7 }).batch
      .graph;
    assert.deepEqual(g.nodes.i2l!.image, { image_name: 'x.png' });
    assert.equal(g.nodes.denoise!.denoising_start, 0.3);
    assert.equal(g.nodes.denoise!.denoising_end, 1);
    assert.equal(g.nodes.noise!.width, 640);
    assert.equal(g.nodes.noise!.height, 384);
    assert.equal(g.nodes.meta!.generation_mode, 'img2img');
    assert.ok(g.edges.some((e) => e.source.node_id === 'i2l' && e.destination.node_id === 'denoise' && e.destination.field === 'latents'));
    assert.equal(g.nodes.model!.type, 'main_model_loader');
  });

  test('expandSeeds counts up from the seed and wraps at 2³²', () => {
    assert.deepEqual(expandSeeds(41, 3), [41, 42, 43]);
    assert.deepEqual(expandSeeds(4294967295, 2), [4294967295, 0]);
    assert.throws(() => expandSeeds(-1, 2), GraphParameterError);
  });
});

describe('bad parameters are refused before anything is sent, naming the field', () => {
  const cases: [string, Partial<GenerationGraphInput>][] = [
    ['width', { width: 1001 }],
    ['width', { width: 8192 }],
    ['height', { height: 256 }],
    ['steps', { steps: 0 }],
    ['cfgScale', { cfgScale: 0.5 }],
    ['scheduler', { scheduler: 'euler_magic' }],
    ['seeds', { seeds: expandSeeds(1, 11) }],
    ['seeds', { seeds: [] }],
    ['seeds', { seeds: [1.5] }],
    ['prompt', { prompt: '  ' }],
    ['model.hash', { model: { ...MODELS.sdxl.main, hash: '' } }],
    ['model.base', { model: { ...MODELS.sdxl.main, base: 'flux' } }],
    ['vae.base', { vae: MODELS['sd-1'].vae }],
  ];
  for (const [field, over] of cases) {
    test(`${field}: ${JSON.stringify(over).slice(0, 60)}`, () => {
      assert.throws(
        () => buildTextToImageBatch(input('sdxl', over)),
        (e: unknown) => e instanceof GraphParameterError && e.field === field,
      );
    });
  }
  test('maxBatchSize option caps the batch', () => {
    assert.throws(() => buildTextToImageBatch(input('sdxl', { seeds: [1, 2, 3] }), { maxBatchSize: 2 }), /seeds/);
    assert.equal(buildTextToImageBatch(input('sdxl', { seeds: [1, 2] }), { maxBatchSize: 2 }).batch.data![0]![0]!.items.length, 2);
  });
  test('image-to-image: strength out of range, size not the init size', () => {
    const i = input('sdxl');
    const init = { imageName: 'x.png', width: 1024, height: 1024 };
    assert.throws(() => buildImageToImageBatch({ ...i, initImage: init, strength: 1.5 }), (e: unknown) => (e as GraphParameterError).field === 'strength');
    assert.throws(
      () => buildImageToImageBatch({ ...i, width: 832, initImage: init, strength: 0.5 }),
      (e: unknown) => (e as GraphParameterError).field === 'width',
    );
  });
});

/** The seed's `_build_generation_graph` (shared/seeds/001), transcribed as the body it sends. */
function seedGraph(opts: { fullModels: boolean; batchSize: number; cid: boolean }): unknown {
  const m = MODELS.sdxl.main;
  const v = MODELS.sdxl.vae;
  const ident = (x: ModelRecordLike) => (opts.fullModels ? { ...x } : { key: x.key, hash: x.hash, type: x.type });
  const id = (p: string) => `${p}:1`;
  const seeds = Array.from({ length: opts.batchSize }, (_, i) => 1234 + i);
  const nodes: Record<string, unknown> = {
    [id('sdxl_model_loader')]: { type: 'sdxl_model_loader', id: id('sdxl_model_loader'), model: ident(m), is_intermediate: true, use_cache: true },
    'sdxl_compel_prompt:1': { type: 'sdxl_compel_prompt', id: 'sdxl_compel_prompt:1', prompt: 'a cat', style: 'a cat' },
    'sdxl_compel_prompt:2': { type: 'sdxl_compel_prompt', id: 'sdxl_compel_prompt:2', prompt: '', style: '' },
    'collect:1': { type: 'collect', id: 'collect:1' },
    'collect:2': { type: 'collect', id: 'collect:2' },
    'noise:1': { type: 'noise', id: 'noise:1', seed: 1234, width: 1024, height: 1024, use_cpu: true },
    'denoise_latents:1': { type: 'denoise_latents', id: 'denoise_latents:1', cfg_scale: 7.5, cfg_rescale_multiplier: 0, scheduler: 'euler', steps: 30, denoising_start: 0, denoising_end: 1 },
    'vae_loader:1': { type: 'vae_loader', id: 'vae_loader:1', vae_model: ident(v) },
    'core_metadata:1': { id: 'core_metadata:1', type: 'core_metadata', generation_mode: 'sdxl_txt2img', model: ident(m), vae: ident(v), steps: 30 },
    'l2i:1': { type: 'l2i', id: 'l2i:1', fp32: false, is_intermediate: false, use_cache: false },
  };
  const e = (a: string, f: string, b: string, g: string) => ({ source: { node_id: a, field: f }, destination: { node_id: b, field: g } });
  const edges = [
    e('sdxl_model_loader:1', 'unet', 'denoise_latents:1', 'unet'),
    e('sdxl_model_loader:1', 'clip', 'sdxl_compel_prompt:1', 'clip'),
    e('sdxl_model_loader:1', 'clip', 'sdxl_compel_prompt:2', 'clip'),
    e('sdxl_model_loader:1', 'clip2', 'sdxl_compel_prompt:1', 'clip2'),
    e('sdxl_model_loader:1', 'clip2', 'sdxl_compel_prompt:2', 'clip2'),
    e('sdxl_compel_prompt:1', 'conditioning', 'collect:1', 'item'),
    e('sdxl_compel_prompt:2', 'conditioning', 'collect:2', 'item'),
    e('collect:1', 'collection', 'denoise_latents:1', 'positive_conditioning'),
    e('collect:2', 'collection', 'denoise_latents:1', 'negative_conditioning'),
    e('noise:1', 'noise', 'denoise_latents:1', 'noise'),
    e('denoise_latents:1', 'latents', 'l2i:1', 'latents'),
    e('vae_loader:1', 'vae', 'l2i:1', 'vae'),
    e('core_metadata:1', 'metadata', 'l2i:1', 'metadata'),
  ];
  const group: unknown[] = [
    { node_path: 'noise:1', field_name: 'seed', items: seeds },
    { node_path: 'core_metadata:1', field_name: 'seed', items: seeds },
    { node_path: 'core_metadata:1', field_name: 'positive_prompt', items: ['a cat'] },
    { node_path: 'core_metadata:1', field_name: 'positive_style_prompt', items: ['a cat'] },
  ];
  if (opts.cid) {
    group.push({ node_path: 'sdxl_compel_prompt:1', field_name: 'prompt', items: ['a cat [CID:abc]'] });
    group.push({ node_path: 'core_metadata:1', field_name: 'positive_prompt', items: ['a cat [CID:abc]'] });
  }
  return {
    prepend: false,
    batch: { graph: { id: 'sdxl_graph_1', nodes, edges }, runs: 1, data: [group], origin: 'photo_gallery', destination: 'gallery' },
  };
}

describe("the double refuses the seed's own graph with 422, as the real server would", () => {
  async function refused(body: unknown): Promise<InvokeAIValidationError> {
    const err = await client.enqueueBatch(body as EnqueueBatchBody).then(
      () => assert.fail('expected 422'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof InvokeAIValidationError);
    assert.equal(err.status, 422);
    assert.equal(err.retryable, false);
    return err;
  }

  test('model fields without name/base', async () => {
    const body = seedGraph({ fullModels: false, batchSize: 1, cid: true });
    const err = await refused(body);
    const locs = err.issues.map((i) => i.loc.join('.'));
    assert.ok(locs.includes('body.batch.graph.nodes.sdxl_model_loader:1.sdxl_model_loader.model.name'), locs.join('\n'));
    assert.ok(locs.includes('body.batch.graph.nodes.sdxl_model_loader:1.sdxl_model_loader.model.base'));
    assert.ok(locs.includes('body.batch.graph.nodes.vae_loader:1.vae_loader.vae_model.name'));
    assert.ok(err.issues.every((i) => i.type === 'missing' && i.msg === 'Field required'));
    // The real OpenAPI says the same.
    assert.ok(validateEnqueueBatchSchema(body).length >= 6);
  });

  test('the CID suffix duplicates meta.positive_prompt', async () => {
    const err = await refused(seedGraph({ fullModels: true, batchSize: 1, cid: true }));
    assert.match(err.issues[0]!.msg, /unique node_id and field_name/);
    assert.deepEqual(err.issues[0]!.loc, ['body', 'batch', 'data']);
  });

  test('batch_size 4: seeds and single prompt datums in one zip group', async () => {
    const err = await refused(seedGraph({ fullModels: true, batchSize: 4, cid: false }));
    assert.match(err.issues[0]!.msg, /same length/);
  });

  test('control: the seed graph with complete models, no CID, one image, is accepted', async () => {
    const r = await client.enqueueBatch(seedGraph({ fullModels: true, batchSize: 1, cid: false }) as EnqueueBatchBody);
    assert.equal(r.enqueued, 1);
  });
});

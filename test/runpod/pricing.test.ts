/** Billed-rate selection (pod → catalog → seed table) and cost arithmetic. Pure. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { billedRate, costUsd, SEED_DEFAULT_RATE, SEED_RATE_TABLE } from '../../src/runpod/pricing.js';
import type { GpuType, Pod } from '../../src/runpod/schemas.js';

const pod = (over: Partial<Pod>): Pick<Pod, 'status' | 'cost' | 'gpu' | 'cloud'> => ({
  status: 'RUNNING',
  cost: 0.44,
  gpu: { id: 'NVIDIA GeForce RTX 4090', count: 1 },
  cloud: 'SECURE',
  ...over,
});
const rtx4090: Pick<GpuType, 'id' | 'price'> = { id: 'NVIDIA GeForce RTX 4090', price: { secure: 0.69, community: 0.34 } };

void describe('billedRate', () => {
  void test("the pod's billed cost wins while it bills", () => {
    assert.deepEqual(billedRate({ pod: pod({}), gpuType: rtx4090 }), { usdPerHour: 0.44, source: 'pod' });
    assert.deepEqual(billedRate({ pod: pod({ status: 'STARTING', cost: 0.5 }) }), { usdPerHour: 0.5, source: 'pod' });
  });

  void test('catalog price × GPU count when the pod reports 0 (stopped) or nothing', () => {
    assert.deepEqual(billedRate({ pod: pod({ status: 'EXITED', cost: 0 }), gpuType: rtx4090 }), { usdPerHour: 0.69, source: 'catalog' });
    assert.deepEqual(billedRate({ pod: pod({ cost: 0, gpu: { id: rtx4090.id, count: 2 } }), gpuType: rtx4090 }), {
      usdPerHour: 1.38,
      source: 'catalog',
    });
    assert.deepEqual(billedRate({ pod: pod({ cost: 0, cloud: 'COMMUNITY' }), gpuType: rtx4090 }), { usdPerHour: 0.34, source: 'catalog' });
    assert.deepEqual(billedRate({ gpuType: rtx4090, gpuCount: 3, cloud: 'COMMUNITY' }).usdPerHour.toFixed(2), '1.02');
  });

  void test('a stale cost on an EXITED pod is ignored', () => {
    assert.equal(billedRate({ pod: pod({ status: 'EXITED', cost: 0.44 }), gpuType: rtx4090 }).source, 'catalog');
  });

  void test("the seed's table only when RunPod says nothing; $1/h for unknown types", () => {
    assert.deepEqual(billedRate({ gpuTypeId: 'NVIDIA A5000' }), { usdPerHour: 0.89, source: 'seed-table' });
    assert.deepEqual(billedRate({ gpuTypeId: 'NVIDIA RTX A5000' }), { usdPerHour: 0.89, source: 'seed-table' });
    assert.deepEqual(billedRate({ pod: pod({ status: 'EXITED', cost: 0 }) }), { usdPerHour: SEED_RATE_TABLE['NVIDIA GeForce RTX 4090'], source: 'seed-table' });
    assert.deepEqual(billedRate({ gpuType: { id: 'NVIDIA L4', price: { secure: null, community: null } } }), { usdPerHour: 0.69, source: 'seed-table' });
    assert.deepEqual(billedRate({ gpuTypeId: 'NVIDIA H200' }), { usdPerHour: SEED_DEFAULT_RATE, source: 'seed-table' });
    assert.deepEqual(billedRate({}), { usdPerHour: 1, source: 'seed-table' });
  });
});

void describe('costUsd', () => {
  void test('rate × time', () => {
    assert.equal(costUsd(0.44, 30 * 60_000), 0.22);
    assert.equal(costUsd(1.2, 3_600_000), 1.2);
    assert.equal(costUsd(0.89, 0), 0);
    assert.ok(Math.abs(costUsd(0.27, 90_000) - 0.00675) < 1e-12);
  });

  void test('rejects negative or non-finite input', () => {
    assert.throws(() => costUsd(-1, 1000), RangeError);
    assert.throws(() => costUsd(1, -1), RangeError);
    assert.throws(() => costUsd(Number.NaN, 1), RangeError);
    assert.throws(() => costUsd(1, Number.POSITIVE_INFINITY), RangeError);
  });
});

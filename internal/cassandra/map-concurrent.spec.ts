import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mapConcurrent } from './map-concurrent';

describe('mapConcurrent', () => {
  it('keeps order and never exceeds the limit in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapConcurrent([5, 1, 4, 2, 3, 0], 2, async (n) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30, 0]);
    assert.equal(peak, 2);
    assert.deepEqual(await mapConcurrent([], 4, () => Promise.resolve(1)), []);
  });
  it('rejects with the first failure and starts nothing after it', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapConcurrent([1, 2, 3, 4, 5], 1, (n) => {
        started.push(n);
        return n === 2 ? Promise.reject(new Error('boom')) : Promise.resolve(n);
      }),
      /boom/,
    );
    assert.deepEqual(started, [1, 2]);
  });
});

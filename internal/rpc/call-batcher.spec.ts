import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CallBatcher } from './call-batcher';

describe('CallBatcher', () => {
  it('sends the calls of one event-loop turn as one batch and answers each caller its own result', async () => {
    const sent: number[][] = [];
    const b = new CallBatcher<number, string>((items) => (sent.push(items), Promise.resolve(items.map((i) => (i === 2 ? new Error('two refused') : `r${i}`)))), { windowMs: 0, maxBatch: 100 });
    const calls = [1, 2, 3].map((i) => b.call(i));
    assert.deepEqual(await Promise.allSettled(calls), [
      { status: 'fulfilled', value: 'r1' },
      { status: 'rejected', reason: new Error('two refused') },
      { status: 'fulfilled', value: 'r3' },
    ]);
    assert.deepEqual(await b.call(4), 'r4');
    assert.deepEqual(sent, [[1, 2, 3], [4]]);
  });

  it('sends a full batch at once and the rest later; a failed send fails its whole batch', async () => {
    const sent: number[][] = [];
    let fail = true;
    const b = new CallBatcher<number, number>(
      (items) => {
        sent.push(items);
        return fail ? Promise.reject(new Error('unavailable')) : Promise.resolve(items);
      },
      { windowMs: 20, maxBatch: 2 },
    );
    const first = [b.call(1), b.call(2)];
    assert.deepEqual(sent, [[1, 2]], 'the full batch left without waiting for the window');
    assert.deepEqual((await Promise.allSettled(first)).map((r) => r.status), ['rejected', 'rejected']);
    fail = false;
    const late = b.call(3);
    assert.equal(sent.length, 1, 'a lone call waits for the window');
    assert.equal(await late, 3);
    assert.deepEqual(sent, [[1, 2], [3]]);
  });

  it('rejects the items a short answer left out', async () => {
    const b = new CallBatcher<number, number>(() => Promise.resolve([7]), { windowMs: 0, maxBatch: 10 });
    const [a, c] = await Promise.allSettled([b.call(1), b.call(2)]);
    assert.deepEqual(a, { status: 'fulfilled', value: 7 });
    assert.match(String((c as PromiseRejectedResult).reason), /answered 1 results for 2 items/);
  });
});

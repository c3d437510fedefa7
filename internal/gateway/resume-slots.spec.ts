import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResumeSlots } from './resume-slots';

const tick = () => new Promise((r) => setImmediate(r));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ResumeSlots', () => {
  it('runs at most `limit` replays at once and starts the others first come, first served', async () => {
    const slots = new ResumeSlots(2);
    const gates = Array.from({ length: 5 }, deferred);
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      slots.run(async () => {
        started.push(i);
        await g.promise;
        return i;
      }),
    );
    await tick();
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(slots.load, { active: 2, waiting: 3 });
    gates[1].resolve();
    await tick();
    assert.deepEqual(started, [0, 1, 2]);
    gates[0].resolve();
    gates[2].resolve();
    await tick();
    await tick();
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    gates[3].resolve();
    gates[4].resolve();
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
    assert.deepEqual(slots.load, { active: 0, waiting: 0 });
  });

  it('frees the slot of a replay that fails, and passes the failure on', async () => {
    const slots = new ResumeSlots(1);
    await assert.rejects(slots.run(() => Promise.reject(new Error('history down'))), /history down/);
    assert.equal(await slots.run(() => Promise.resolve('next')), 'next');
    assert.deepEqual(slots.load, { active: 0, waiting: 0 });
  });

  it('refuses a limit that is not a positive integer', () => {
    assert.throws(() => new ResumeSlots(0), RangeError);
    assert.throws(() => new ResumeSlots(1.5), RangeError);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { atEndOfTurn } from './end-of-turn';

/**
 * Two check phases later: after everything the tasks under test queued with setImmediate. A 5 ms
 * timer stood here and raced those immediates: on a loaded machine the loop reached the timer
 * first and the test read the list too early.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

describe('atEndOfTurn', () => {
  it('runs the tasks of a turn once, in order, after its synchronous work', async () => {
    const seen: string[] = [];
    atEndOfTurn(() => seen.push('a'));
    atEndOfTurn(() => seen.push('b'));
    seen.push('sync');
    await nextTurn();
    assert.deepEqual(seen, ['sync', 'a', 'b']);
  });

  it('runs what a task asks for in its microtasks in the same check phase, before an immediate queued by the task', async () => {
    const seen: string[] = [];
    atEndOfTurn(() => {
      seen.push('commit');
      setImmediate(() => seen.push('a plain immediate, next turn'));
      void Promise.resolve().then(() => atEndOfTurn(() => seen.push('flush the deliveries')));
    });
    await nextTurn();
    assert.deepEqual(seen, ['commit', 'flush the deliveries', 'a plain immediate, next turn']);
  });

  it('defers what the trailing pass asks for to the next turn', async () => {
    const seen: string[] = [];
    atEndOfTurn(() => {
      void Promise.resolve().then(() =>
        atEndOfTurn(() => {
          seen.push('late');
          setImmediate(() => seen.push('an immediate queued before it'));
          atEndOfTurn(() => seen.push('next turn'));
        }),
      );
    });
    await nextTurn();
    assert.deepEqual(seen, ['late', 'an immediate queued before it', 'next turn']);
  });
});

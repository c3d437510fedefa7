import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FreshFetch } from './fresh-fetch';
import { LogCatchUp, type LogOffsets } from './log-catch-up';

/** A log of two partitions whose end and committed offsets the test moves, counting reads. */
class FakeLog implements LogOffsets {
  end = new Map([[0, 10n], [1, 4n]]);
  committed = new Map([[0, 10n], [1, 4n]]);
  endReads = 0;
  committedReads = 0;
  failCommitted = false;
  endDelayMs = 0;
  committedDelayMs = 0;

  async endOffsets(): Promise<Map<number, bigint>> {
    this.endReads++;
    const snapshot = new Map(this.end);
    if (this.endDelayMs > 0) await new Promise((r) => setTimeout(r, this.endDelayMs));
    return snapshot;
  }

  async committedOffsets(): Promise<Map<number, bigint>> {
    this.committedReads++;
    if (this.failCommitted) throw new Error('broker down');
    const snapshot = new Map(this.committed);
    if (this.committedDelayMs > 0) await new Promise((r) => setTimeout(r, this.committedDelayMs));
    return snapshot;
  }
}

describe('LogCatchUp', () => {
  it('is caught up at once when the sync worker has committed up to the end', async () => {
    const log = new FakeLog();
    assert.equal(await new LogCatchUp(log, { pollMs: 5 }).waitForHistory(1000), true);
  });

  it('waits until the committed offsets pass the end as it was when asked, not as it is later', async () => {
    const log = new FakeLog();
    log.committed.set(1, 2n);
    const waiting = new LogCatchUp(log, { pollMs: 5 }).waitForHistory(2000);
    await new Promise((r) => setTimeout(r, 30));
    log.end.set(1, 9n); // appended after the call: not waited for
    log.committed.set(1, 4n);
    assert.equal(await waiting, true);
  });

  it('treats a partition the worker never committed as behind, and an empty one as caught up', async () => {
    const log = new FakeLog();
    log.end.set(2, 0n);
    log.end.set(3, 1n);
    assert.equal(await new LogCatchUp(log, { pollMs: 5 }).waitForHistory(60), false);
    log.committed.set(3, 1n);
    assert.equal(await new LogCatchUp(log, { pollMs: 5 }).waitForHistory(60), true);
  });

  it('gives up at the deadline, also when offsets cannot be read', async () => {
    const log = new FakeLog();
    log.committed.set(0, 3n);
    const t0 = Date.now();
    assert.equal(await new LogCatchUp(log, { pollMs: 5 }).waitForHistory(100), false);
    assert.ok(Date.now() - t0 < 1000);
    log.failCommitted = true;
    assert.equal(await new LogCatchUp(log, { pollMs: 5 }).waitForHistory(100), false);
  });

  it('shares reads among many waiters (a reconnect storm costs a few admin requests)', async () => {
    const log = new FakeLog();
    log.endDelayMs = 20;
    log.committedDelayMs = 5;
    const catchUp = new LogCatchUp(log, { pollMs: 5 });
    const results = await Promise.all(Array.from({ length: 500 }, () => catchUp.waitForHistory(1000)));
    assert.ok(results.every((r) => r), `${results.filter((r) => !r).length} not caught up`);
    // Whoever asks during a read gets the next one: a wave of callers costs two reads of each.
    assert.ok(log.endReads <= 2, `end offsets read ${log.endReads} times`);
    assert.ok(log.committedReads <= 4, `committed offsets read ${log.committedReads} times`);
  });
});

describe('FreshFetch', () => {
  it('gives a caller that asks during a fetch the next fetch, not the one in flight', async () => {
    let n = 0;
    const release: (() => void)[] = [];
    const fetch = new FreshFetch(() => new Promise<number>((resolve) => release.push(() => resolve(++n))));
    const first = fetch.next();
    const second = fetch.next();
    const third = fetch.next();
    assert.equal(release.length, 1);
    release[0]();
    assert.equal(await first, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(release.length, 2, 'one more fetch for everyone who asked meanwhile');
    release[1]();
    assert.deepEqual([await second, await third], [2, 2]);
  });

  it('starts the next fetch after a failed one', async () => {
    let calls = 0;
    const fetch = new FreshFetch(() => (++calls === 1 ? Promise.reject(new Error('first fails')) : Promise.resolve(calls)));
    const first = fetch.next();
    const second = fetch.next();
    await assert.rejects(first);
    assert.equal(await second, 2);
  });
});

import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import { waitUntil } from '../testing/wait-until';
import type { WorkerIdRange, WorkerLease, WorkerLeaseTiming } from './worker-lease';

/** What the contract needs from an adapter: leases as separate processes would hold them. */
export interface WorkerLeaseHarness {
  /** A new lease on `range`, with its own connection to the store (a process of its own). */
  lease(range: WorkerIdRange, timing: WorkerLeaseTiming): WorkerLease;
  /** Makes the store forget `id`'s lease, as if its TTL had lapsed while its holder was paused. */
  forget(id: number): Promise<void>;
  /** Releases the harness's connections. */
  close(): Promise<void>;
}

const isUnavailable = (pattern: RegExp) => (err: unknown) =>
  err instanceof ChatError && err.code === ErrorCode.ERROR_CODE_UNAVAILABLE && pattern.test(err.message);

/** The WorkerLease guarantees, run against every adapter (memory here, Redis in the engines suite). */
export function workerLeaseContract(name: string, factory: () => Promise<WorkerLeaseHarness>): void {
  describe(`WorkerLease contract: ${name}`, () => {
    let harness: WorkerLeaseHarness | undefined;
    const held: WorkerLease[] = [];
    /** Leases made through here are released after each test. */
    const lease = (range: WorkerIdRange, timing: WorkerLeaseTiming = { ttlMs: 5_000 }): WorkerLease => {
      const l = harness!.lease(range, timing);
      held.push(l);
      return l;
    };
    afterEach(async () => {
      await Promise.all(held.splice(0).map((l) => l.release()));
      await harness?.close();
    });

    it('never gives two leases the same id', async () => {
      harness = await factory();
      const leases = Array.from({ length: 8 }, () => lease({ min: 100, max: 107 }));
      const ids = await Promise.all(leases.map((l) => l.acquire()));
      assert.deepEqual([...ids].sort((a, b) => a - b), [100, 101, 102, 103, 104, 105, 106, 107]);
      assert.ok(leases.every((l, i) => l.isHeld() && l.workerId === ids[i]));
      await assert.rejects(lease({ min: 100, max: 107 }).acquire(), isUnavailable(/no free snowflake worker id in 100\.\.107/));
    });

    it('frees the id on release, and only its owner can release it', async () => {
      harness = await factory();
      const a = lease({ min: 5, max: 5 });
      const b = lease({ min: 5, max: 5 });
      assert.equal(await a.acquire(), 5);
      await assert.rejects(b.acquire(), isUnavailable(/no free/));
      await a.release();
      assert.equal(a.isHeld(), false);
      assert.equal(a.workerId, undefined);
      assert.equal(await b.acquire(), 5, 'a failed acquire may be retried');
      await a.release(); // idempotent, and must not free b's lease
      await assert.rejects(lease({ min: 5, max: 5 }).acquire(), isUnavailable(/no free/));
    });

    it('keeps the id past its TTL by renewing it', async () => {
      harness = await factory();
      const a = lease({ min: 7, max: 7 }, { ttlMs: 300 });
      await a.acquire();
      const until = Date.now() + 1_000;
      await waitUntil(() => Date.now() > until, 2_000, 'three TTLs to pass');
      assert.equal(a.isHeld(), true);
      await assert.rejects(lease({ min: 7, max: 7 }).acquire(), isUnavailable(/no free/));
    });

    it('reports a lease lost when its id lapsed, once, and the id goes to another', async () => {
      harness = await factory();
      const a = lease({ min: 3, max: 3 }, { ttlMs: 300 });
      const reasons: ChatError[] = [];
      a.onLost((r) => reasons.push(r));
      assert.equal(await a.acquire(), 3);
      await harness.forget(3);
      await waitUntil(() => reasons.length > 0, 2_000, 'the lease to be reported lost');
      assert.equal(a.isHeld(), false);
      assert.equal(a.workerId, undefined);
      assert.match(reasons[0].message, /lost: worker id 3 lapsed or was taken.*stop issuing ids/);
      const b = lease({ min: 3, max: 3 }, { ttlMs: 300 });
      assert.equal(await b.acquire(), 3);
      await a.release(); // a former holder's release leaves the new holder alone
      assert.equal(b.isHeld(), true);
      await assert.rejects(lease({ min: 3, max: 3 }).acquire(), isUnavailable(/no free/));
      assert.equal(reasons.length, 1);
    });

    it('lets two of three contending processes have the two ids of a range; the third fails clearly', async () => {
      harness = await factory();
      const contenders = [0, 1, 2].map(() => lease({ min: 10, max: 11 }));
      const outcomes = await Promise.allSettled(contenders.map((l) => l.acquire()));
      const won = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
      assert.deepEqual(won.sort((a, b) => a - b), [10, 11]);
      assert.equal(lost.length, 1);
      assert.ok(isUnavailable(/no free snowflake worker id in 10\.\.11: all 2 are leased/)(lost[0]), String(lost[0]));
    });
  });
}

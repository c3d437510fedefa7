import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../engines/redis-client';
import { uniquePrefix } from '../testing/engines';
import { deleteKeys, forEachRedis, keySlots } from '../testing/redis-targets';
import { waitUntil } from '../testing/wait-until';
import type { WorkerLeaseTiming } from './worker-lease';
import { RedisWorkerLease } from './worker-lease-redis';
import { workerLeaseContract } from './worker-lease.contract';

forEachRedis((target) => {
  /** Every key of this run starts with it; `after` deletes them. */
  const run = uniquePrefix('leases');
  let admin: RedisClient;
  before(async () => void (admin = await target.connect()));
  after(async () => {
    await deleteKeys(admin, `${run}:`);
    await admin.quit();
  });

  let harnesses = 0;
  workerLeaseContract(target.name, async () => {
    const keyPrefix = `${run}:contract${++harnesses}:`;
    // Each lease gets its own client: the contenders are separate processes.
    const clients = await Promise.all(Array.from({ length: 10 }, () => target.connect()));
    let next = 0;
    return {
      lease: (range, timing) => {
        if (next === clients.length) throw new Error(`the harness has ${clients.length} clients; make more`);
        return new RedisWorkerLease({ redis: clients[next++], keyPrefix, range, commandTimeoutMs: 1_000, ...timing });
      },
      forget: async (id) => void (await admin.del(`${keyPrefix}worker:${id}`)),
      close: async () => void (await Promise.all(clients.map((c) => c.quit()))),
    };
  });

  describe(`RedisWorkerLease on ${target.name}`, () => {
    it('fails closed when Redis is unreachable: lost before its key can expire, then the id is free', async () => {
      const keyPrefix = `${run}:cut:`;
      const timing: WorkerLeaseTiming = { ttlMs: 1_000, safetyMarginMs: 200 };
      const holder = await target.connect();
      holder.on('error', () => undefined);
      const a = new RedisWorkerLease({ redis: holder, keyPrefix, range: { min: 9, max: 9 }, commandTimeoutMs: 300, ...timing });
      let keyTtlWhenLost: Promise<number> | undefined;
      a.onLost(() => {
        keyTtlWhenLost = admin.pttl(`${keyPrefix}worker:9`);
      });
      assert.equal(await a.acquire(), 9);
      holder.disconnect(); // this process can no longer reach Redis; its lease is still there
      await waitUntil(() => keyTtlWhenLost !== undefined, 3_000, 'the lease to be reported lost');
      assert.equal(a.isHeld(), false);
      const ttlLeft = await keyTtlWhenLost!;
      assert.ok(ttlLeft > 0, `the key must outlive the holder's claim; PTTL at loss was ${ttlLeft}`);

      const otherClient = await target.connect();
      try {
        const b = new RedisWorkerLease({ redis: otherClient, keyPrefix, range: { min: 9, max: 9 }, commandTimeoutMs: 1_000, ...timing });
        let acquired: number | undefined;
        await waitUntil(async () => (acquired = await b.acquire().catch(() => undefined)) !== undefined, 3_000, 'id 9 after its key expired');
        assert.equal(acquired, 9);
        await b.release();
      } finally {
        await otherClient.quit();
      }
    });

    it('takes every id of the whole range, one per lease, in windows of probes', async () => {
      // 40 ids: more than two probe windows, so a lease that starts near the end wraps around.
      const keyPrefix = `${run}:wide:`;
      const client = await target.connect();
      try {
        const leases = Array.from({ length: 40 }, () => new RedisWorkerLease({ redis: client, keyPrefix, range: { min: 600, max: 639 }, commandTimeoutMs: 1_000, ttlMs: 5_000 }));
        const ids: number[] = [];
        for (const l of leases) ids.push(await l.acquire());
        assert.deepEqual([...ids].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => 600 + i));
        await Promise.all(leases.map((l) => l.release()));
        if (client instanceof Cluster) {
          // Each lease is its own key: spread over the slots, never one script across them.
          const slots = await keySlots(client, ids.map((id) => `${keyPrefix}worker:${id}`));
          assert.ok(new Set(slots).size > 1, `the lease keys of 40 ids share slot ${slots[0]}`);
        }
      } finally {
        await client.quit();
      }
    });
  });
});

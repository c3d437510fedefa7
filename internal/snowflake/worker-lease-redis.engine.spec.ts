import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { requireEngineEnv, uniquePrefix } from '../testing/engines';
import { waitUntil } from '../testing/wait-until';
import type { WorkerLeaseTiming } from './worker-lease';
import { RedisWorkerLease } from './worker-lease-redis';
import { workerLeaseContract } from './worker-lease.contract';

const url = requireEngineEnv('CHAT_REDIS_URL');
/** Every key of this run starts with it; `after` deletes them. */
const run = uniquePrefix('leases');
const admin = new Redis(url);
after(async () => {
  for await (const keys of admin.scanStream({ match: `${run}:*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await admin.unlink(...keys);
  }
  await admin.quit();
});

let harnesses = 0;
workerLeaseContract('redis', () => {
  const keyPrefix = `${run}:contract${++harnesses}:`;
  const clients: Redis[] = [];
  return Promise.resolve({
    // Each lease gets its own client: the contenders are separate processes.
    lease: (range, timing) => {
      const redis = new Redis(url);
      clients.push(redis);
      return new RedisWorkerLease({ redis, keyPrefix, range, commandTimeoutMs: 1_000, ...timing });
    },
    forget: async (id) => void (await admin.del(`${keyPrefix}worker:${id}`)),
    close: async () => void (await Promise.all(clients.map((c) => c.quit()))),
  });
});

describe('RedisWorkerLease on a real Redis', () => {
  it('fails closed when Redis is unreachable: lost before its key can expire, then the id is free', async () => {
    const keyPrefix = `${run}:cut:`;
    const timing: WorkerLeaseTiming = { ttlMs: 1_000, safetyMarginMs: 200 };
    const holder = new Redis(url);
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

    const otherClient = new Redis(url);
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
});

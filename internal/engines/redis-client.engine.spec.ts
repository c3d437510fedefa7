import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../config/config';
import { uniquePrefix } from '../testing/engines';
import { deleteKeys, forEachRedis, keySlots } from '../testing/redis-targets';
import { closeAll, leasedWorkerIds, openRedis, type Closer } from './open-engines';
import type { RedisClient } from './redis-client';

const SCRIPT = { numberOfKeys: 2, lua: "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('MGET', KEYS[1], KEYS[2])" };
type TwoKeys = (a: string, b: string, value: string) => Promise<unknown>;
const twoKeys = (client: RedisClient): TwoKeys => {
  client.defineCommand('chatTestTwoKeys', SCRIPT);
  return (client as unknown as Record<string, TwoKeys>).chatTestTwoKeys.bind(client);
};

forEachRedis((target) => {
  const run = uniquePrefix('client');
  let client: RedisClient;
  before(async () => void (client = await target.connect()));
  after(async () => {
    await deleteKeys(client, `${run}:`);
    await client.quit();
  });

  it('runs a script on two keys of one hash tag', async () => {
    assert.deepEqual(await twoKeys(client)(`${run}:{t}:a`, `${run}:{t}:b`, 'v'), ['v', 'v']);
  });

  it('is what openRedis opens from the configuration, and a worker id is leased on it', async () => {
    const env = target.name === 'redis' ? { CHAT_REDIS_URL: target.target.url } : { CHAT_REDIS_CLUSTER_NODES: target.target.clusterNodes };
    const config = loadConfig({ CHAT_DEV_MODE: 'true', CHAT_SESSIONS: 'redis', CHAT_REDIS_KEY_PREFIX: `${run}:`, ...env });
    const closers: Closer[] = [];
    try {
      const redis = await openRedis(config, pino({ level: 'silent' }), closers);
      assert.equal(redis instanceof Cluster, target.name === 'redis-cluster');
      const ids = await leasedWorkerIds(redis, config, pino({ level: 'silent' }), closers);
      assert.match(ids.nextString(), /^\d+$/);
      assert.equal(await countKeys(client, `${run}:worker:`), 1, 'the lease key is in Redis');
    } finally {
      await closeAll(closers);
    }
  });

  if (target.name === 'redis-cluster') {
    it('is a Cluster of 3 primaries that refuses a script across two slots (CROSSSLOT)', async () => {
      // What makes the contract suites on this target prove each script touches one slot.
      const cluster = client as Cluster;
      assert.equal(cluster.nodes('master').length, 3);
      const a = `${run}:a`;
      const [slotA] = await keySlots(cluster, [a]);
      let b = `${run}:b`;
      for (let i = 0; (await keySlots(cluster, [b]))[0] === slotA; i++) b = `${run}:b${i}`;
      // ioredis refuses it before sending, and a node refuses it too.
      await assert.rejects(twoKeys(client)(a, b, 'v'), /should belong to the same slot/);
      await assert.rejects(cluster.nodes('master')[0].eval(SCRIPT.lua, 2, a, b, 'v'), /CROSSSLOT/);
    });
  }
});

/** How many keys start with `prefix`, on every primary. */
async function countKeys(client: RedisClient, prefix: string): Promise<number> {
  let n = 0;
  for (const node of client instanceof Cluster ? client.nodes('master') : [client]) {
    for await (const keys of node.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) n += keys.length;
  }
  return n;
}

import { after, before } from 'node:test';
import type { RedisClient } from '../engines/redis-client';
import { uniquePrefix } from '../testing/engines';
import { deleteKeys, forEachRedis } from '../testing/redis-targets';
import { RedisSendClaims } from './send-claims-redis';
import { sendClaimsContract } from './send-claims.contract';

forEachRedis((target) => {
  const run = uniquePrefix('claims');
  // The contract asks for holders synchronously; they take turns on clients connected beforehand,
  // so successive holders use different connections, as separate chat servers would.
  const clients: RedisClient[] = [];
  let next = 0;
  before(async () => void clients.push(...(await Promise.all(Array.from({ length: 4 }, () => target.connect())))));
  after(async () => {
    await deleteKeys(clients[0], `${run}:`);
    await Promise.all(clients.map((c) => c.quit()));
  });

  sendClaimsContract(target.name, () => ({
    claims: (ttlMs, sequenceTtlMs = 3_600_000) => new RedisSendClaims({ redis: clients[next++ % clients.length], keyPrefix: `${run}:`, ttlMs, sequenceTtlMs, commandTimeoutMs: 2_000 }),
  }));
});

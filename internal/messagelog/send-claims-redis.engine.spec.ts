import { after } from 'node:test';
import { Redis } from 'ioredis';
import { requireEngineEnv, uniquePrefix } from '../testing/engines';
import { RedisSendClaims } from './send-claims-redis';
import { sendClaimsContract } from './send-claims.contract';

const url = requireEngineEnv('CHAT_REDIS_URL');
const run = uniquePrefix('claims');
const clients: Redis[] = [];
after(async () => {
  const admin = new Redis(url);
  const keys = await admin.keys(`${run}:*`);
  if (keys.length > 0) await admin.unlink(...keys);
  await admin.quit();
  await Promise.all(clients.map((c) => c.quit()));
});

sendClaimsContract('redis', () => ({
  // Each holder gets its own connection: the contenders are separate chat servers.
  claims: (ttlMs) => {
    const redis = new Redis(url);
    clients.push(redis);
    return new RedisSendClaims({ redis, keyPrefix: `${run}:`, ttlMs, commandTimeoutMs: 2_000 });
  },
}));

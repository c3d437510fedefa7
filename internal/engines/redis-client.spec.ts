import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { clientKeyPrefix, createRedisClient, describeRedisTarget, failsFast, parseHostPorts } from './redis-client';

// Every client here is lazy (sessionRedisOptions): none opens a connection.
describe('createRedisClient', () => {
  it('opens a Cluster from seed nodes with the processes\' semantics: no offline queue, no resend, primaries only', () => {
    const c = createRedisClient({ clusterNodes: '127.0.0.1:16701, 127.0.0.1:16702', url: 'redis://:s%40cret@ignored:1' }, 1234);
    assert.ok(c instanceof Cluster);
    assert.deepEqual(parseHostPorts('127.0.0.1:16701, 127.0.0.1:16702'), [{ host: '127.0.0.1', port: 16701 }, { host: '127.0.0.1', port: 16702 }]);
    const o = c.options;
    assert.deepEqual([o.lazyConnect, o.enableOfflineQueue, o.enableAutoPipelining, o.scaleReads, o.retryDelayOnFailover], [true, false, true, 'master', 0]);
    assert.deepEqual([o.redisOptions?.autoResendUnfulfilledCommands, o.redisOptions?.commandTimeout, o.redisOptions?.password], [false, 1234, 's@cret']);
    assert.equal(describeRedisTarget({ clusterNodes: '127.0.0.1:16701' }), 'the Redis Cluster at 127.0.0.1:16701');
    assert.ok(failsFast(c));
  });

  it('opens one Redis from a URL, or the primary that Sentinels name', () => {
    const one = createRedisClient({ url: 'redis://127.0.0.1:16379' }, 500);
    assert.ok(one instanceof Redis);
    assert.deepEqual([one.options.port, one.options.enableOfflineQueue, one.options.autoResendUnfulfilledCommands, one.options.commandTimeout], [16379, false, false, 500]);
    assert.ok(failsFast(one));
    assert.ok(!failsFast(new Redis({ lazyConnect: true })), 'ioredis defaults queue and resend');
    const viaSentinel = createRedisClient({ sentinels: 'a:26379,b:26380', sentinelName: 'mesh', url: 'redis://:pw@x:1/2' }, 500);
    assert.ok(viaSentinel instanceof Redis);
    assert.deepEqual([viaSentinel.options.name, viaSentinel.options.sentinels, viaSentinel.options.password, viaSentinel.options.db], ['mesh', parseHostPorts('a:26379,b:26380'), 'pw', 2]);
    assert.throws(() => createRedisClient({}, 500), /needs a URL, Sentinels or Cluster nodes/);
  });

  it('finds a key prefix set on the client, on a Cluster at either level', () => {
    assert.equal(clientKeyPrefix(new Redis({ lazyConnect: true, keyPrefix: 'p:' })), 'p:');
    assert.equal(clientKeyPrefix(new Redis({ lazyConnect: true })), undefined);
    assert.equal(clientKeyPrefix(new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, redisOptions: { keyPrefix: 'q:' } })), 'q:');
    assert.equal(clientKeyPrefix(new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, keyPrefix: 'r:' })), 'r:');
  });
});

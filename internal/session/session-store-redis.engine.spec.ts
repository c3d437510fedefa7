import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import type { RedisClient } from '../engines/redis-client';
import { requireEngineEnv, uniquePrefix } from '../testing/engines';
import { deleteKeys, forEachRedis } from '../testing/redis-targets';
import { waitUntil } from '../testing/wait-until';
import { RedisSessionStore, sessionRedisOptions } from './session-store-redis';
import { sessionStoreContract } from './session-store.contract';

const url = requireEngineEnv('CHAT_REDIS_URL');
/** Every key of this run starts with it; `after` deletes them so a shared test server stays small. */
const run = uniquePrefix('sessions');
const clients: Redis[] = [];
/** A connected client as the session service makes one, reconnecting quickly for the restart test. */
async function client(target: string = url, commandTimeoutMs = 2000, track = true): Promise<Redis> {
  const c = new Redis(target, { ...sessionRedisOptions(commandTimeoutMs), retryStrategy: () => 50 });
  c.on('error', () => undefined); // outages are the point of some tests; the calls report them
  if (track) clients.push(c);
  await c.connect();
  return c;
}
let shared: Redis;
before(async () => {
  shared = await client();
});
after(async () => {
  for await (const keys of shared.scanStream({ match: `${run}:*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await shared.unlink(...keys);
  }
  await Promise.all(clients.map((c) => c.quit()));
});
// On a single Redis and on the Cluster (where every script must stay on one slot). A fresh prefix
// per store: each contract test starts from an empty store, as with the memory one.
let stores = 0;
forEachRedis((target) => {
  let redis: RedisClient;
  before(async () => (redis = await target.connect()));
  after(async () => {
    await deleteKeys(redis, `${run}:`);
    await redis.quit();
  });
  sessionStoreContract(target.name, () => Promise.resolve(new RedisSessionStore({ redis, keyPrefix: `${run}:contract${++stores}:`, commandTimeoutMs: 2000 })));
});

const T = 1_000_000;
const conn = (user: string, unique: string, serverId = 'srv-1') => ({ userId: user, deviceId: `dev-${unique}`, sessionId: `${serverId}.${unique}`, serverId, serverAddress: '' });

describe('RedisSessionStore on a real Redis', () => {
  it('reports each lapse exactly once while two processes sweep concurrently', async () => {
    const keyPrefix = `${run}:sweep:`;
    const a = new RedisSessionStore({ redis: await client(), keyPrefix, commandTimeoutMs: 5000, sweepBatch: 16 });
    const b = new RedisSessionStore({ redis: await client(), keyPrefix, commandTimeoutMs: 5000, sweepBatch: 16 });
    await a.renewServer('srv-1', 'i', T, 10_000);
    await b.renewServer('srv-2', 'i', T + 1, 10_000);
    const users = Array.from({ length: 150 }, (_, i) => `u${i}`);
    await Promise.all(users.map(async (u) => {
      await a.register(conn(u, `${u}-1`, 'srv-1'), T, 10);
      await b.register(conn(u, `${u}-2`, 'srv-2'), T + 1, 10);
    }));
    const [fromA, fromB] = await Promise.all([a.expire(T + 20_000), b.expire(T + 20_000)]);
    const reported = [...fromA, ...fromB].map((t) => t.userId).sort();
    assert.deepEqual(reported, [...users].sort(), 'every user once, none twice');
    for (const t of [...fromA, ...fromB]) assert.equal(t.lastSeenMs, T + 10_001, 'offline when the later lease ended');
    assert.deepEqual(await a.expire(T + 30_000), []);
    assert.equal(await shared.zcard(`${keyPrefix}{servers}exp`), 0, 'servers that are gone leave the index');
  });

  it('drops a lapsed server of many connections in batches, costing nothing per heartbeat meanwhile', async () => {
    const keyPrefix = `${run}:big:`;
    const store = new RedisSessionStore({ redis: shared, keyPrefix, commandTimeoutMs: 5000, sweepBatch: 64 });
    await store.renewServer('big', 'i', T, 10_000);
    const users = Array.from({ length: 600 }, (_, i) => `b${i}`);
    await Promise.all(users.map((u) => store.register(conn(u, u, 'big'), T, 10)));
    const before = Number(/total_commands_processed:(\d+)/.exec(await shared.info('stats'))?.[1]);
    for (let t = T + 3_000; t < T + 30_000; t += 3_000) await store.renewServer('big', 'i', t, 10_000);
    const after = Number(/total_commands_processed:(\d+)/.exec(await shared.info('stats'))?.[1]);
    // 9 renewals of 2 scripts each (+ the INFO call): not 9 x 600 refreshes. Other suites may share the server, so bounded loosely.
    assert.ok(after - before < 200, `${after - before} commands for 9 renewals of a server with 600 connections`);
    assert.equal((await store.locate(users.slice(0, 3), T + 35_000)).length, 3);
    const swept = await store.expire(T + 40_000);
    assert.equal(swept.length, 600);
    assert.equal(await shared.exists(`${keyPrefix}{srv:big}conns:1`, `${keyPrefix}{srv:big}dead`, `${keyPrefix}{u:b0}conn`), 0, 'nothing left of the dead lease');
  });

  it('keeps each script on one slot: server keys, user keys and the index are hash-tagged', async () => {
    const keyPrefix = `${run}:layout:`;
    const store = new RedisSessionStore({ redis: shared, keyPrefix, commandTimeoutMs: 2000 });
    await store.renewServer('srv-9', 'i', T, 10_000);
    await store.register(conn('p', 'p-1', 'srv-9'), T, 10);
    assert.deepEqual(await shared.hgetall(`${keyPrefix}{u:p}conn`), { 'srv-9.p-1': JSON.stringify(['dev-p-1', 'srv-9', '', 1]) });
    assert.deepEqual(await shared.hgetall(`${keyPrefix}{srv:srv-9}conns:1`), { 'srv-9.p-1': 'p' });
    assert.deepEqual(await shared.zrange(`${keyPrefix}{servers}exp`, '0', '-1', 'WITHSCORES'), ['srv-9', String(T + 10_000)]);
    for (const k of await shared.keys(`${keyPrefix}*`)) assert.match(k, /\{(srv:srv-9|u:p|servers)\}/, `${k}: a script's keys share one of these hash tags`);
    await store.unregister('srv-9.p-1', T + 1);
    assert.equal(await shared.exists(`${keyPrefix}{u:p}conn`), 0);
    assert.equal(await shared.get(`${keyPrefix}{u:p}seen`), String(T + 1));
  });

  it('keeps watchers and locators in one hash-tagged sorted set per user that expires when idle', async () => {
    const keyPrefix = `${run}:interest:`;
    const store = new RedisSessionStore({ redis: shared, keyPrefix, commandTimeoutMs: 2000 });
    const key = `${keyPrefix}watchers:{w}`;
    await store.addPresenceWatches('srv-1', ['w'], T, 60_000);
    await store.addPresenceWatches('srv-2', ['w'], T + 30_000, 60_000);
    assert.deepEqual(await shared.zrange(key, '0', '-1', 'WITHSCORES'), ['srv-1', String(T + 60_000), 'srv-2', String(T + 90_000)]);
    const pttl = await shared.pttl(key);
    assert.ok(pttl > 50_000 && pttl <= 60_000, `an idle key vanishes: PTTL ${pttl}`);
    await store.addPresenceWatches('srv-2', ['w'], T + 30_001, 1_000);
    assert.ok((await shared.pttl(key)) > 50_000, 'a shorter TTL never shortens the key');
    await store.addPresenceWatches('srv-3', ['w'], T + 60_000, 60_000);
    assert.deepEqual(await shared.zrange(key, '0', '-1'), ['srv-2', 'srv-3'], 'a write trims the lapsed members');
    await store.noteLocated('srv-1', ['w'], T, 10_000);
    assert.deepEqual(await shared.zrange(`${keyPrefix}locators:{w}`, '0', '-1'), ['srv-1']);
    assert.deepEqual(await store.presenceWatchers(['w'], T + 100_000), [['srv-3']]);
    assert.deepEqual(await shared.zrange(key, '0', '-1'), ['srv-2', 'srv-3'], 'a read writes nothing');
  });

  it('rejects with UNAVAILABLE within the deadline while Redis hangs or is down, and recovers after a restart', { timeout: 30_000 }, async () => {
    const server = await OwnRedis.start();
    const timeoutMs = 400;
    const redis = await client(server.url, timeoutMs, false);
    try {
      const store = new RedisSessionStore({ redis, keyPrefix: 'r:', commandTimeoutMs: timeoutMs, outageGraceMs: 5_000 });
      const now = Date.now();
      await store.renewServer('srv-1', 'i', now, 10_000);
      await store.register(conn('x', 'x-1'), now, 10);
      const expectUnavailable = async (calls: Promise<unknown>[], atLeastMs: number): Promise<void> => {
        const started = Date.now();
        const outcomes = await Promise.allSettled(calls);
        const took = Date.now() - started;
        assert.ok(took >= atLeastMs && took < timeoutMs + 250, `settled after ${took} ms`);
        for (const o of outcomes) {
          const err: unknown = o.status === 'rejected' ? o.reason : undefined;
          assert.ok(err instanceof ChatError && err.code === ErrorCode.ERROR_CODE_UNAVAILABLE, String(err));
        }
      };
      // Hung (connected, never answers): the deadline ends the call.
      server.signal('SIGSTOP');
      await expectUnavailable([store.locate(['x'], now)], timeoutMs - 5);
      server.signal('SIGCONT');
      // Nobody could renew while Redis hung: for the outage grace no lease counts as lapsed.
      assert.equal((await store.locate(['x'], now + 20_000)).length, 1, 'a lease that lapsed during the outage still routes');
      assert.deepEqual(await store.expire(now + 20_000), [], 'and is not swept');
      // Down: nothing is queued for later, every call fails at once.
      await server.kill();
      await expectUnavailable(
        [store.register(conn('x', 'x-2'), now, 10), store.renewServer('srv-1', 'i', now, 10_000), store.locate(['x'], now), store.expire(now)],
        0,
      );
      await server.restart();
      let recovered = false;
      await waitUntil(
        async () => (recovered = await store.renewServer('srv-1', 'i', Date.now(), 10_000).then((r) => r.lapsed, () => false)),
        10_000,
        'a lease renewal after the restart',
      );
      // The restarted Redis kept nothing: the renewal said the lease lapsed, and the chat server registers again.
      assert.ok(recovered);
      assert.equal((await store.register(conn('x', 'x-1'), Date.now(), 10)).becameOnline, true);
    } finally {
      redis.disconnect(); // before the server goes: a client of a dead server waits out its close timeout
      await server.stop();
    }
  });
});

/** A redis-server of this test's own, on a free port and a temp dir, so it can be killed and restarted. */
class OwnRedis {
  private proc?: ChildProcess;
  private constructor(
    private readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OwnRedis> {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
      srv.on('error', reject);
    });
    const server = new OwnRedis(port, mkdtempSync(join(tmpdir(), 'chat-redis-')));
    await server.restart();
    return server;
  }

  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    this.proc.on('error', () => undefined); // a missing binary shows up as the readiness timeout below
    await waitUntil(() => this.pings(), 10_000, `redis-server on port ${this.port} (is redis-server on PATH?)`);
  }

  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    this.proc?.kill(sig);
  }

  /** SIGKILL: an outage, not a graceful shutdown. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise((resolve) => {
      proc.once('exit', resolve);
      proc.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private pings(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection({ port: this.port, host: '127.0.0.1' });
      socket.setTimeout(500, () => socket.destroy());
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        resolve(d.toString().startsWith('+PONG'));
        socket.destroy();
      });
      socket.on('error', () => resolve(false));
      socket.on('close', () => resolve(false));
    });
  }
}

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
import { requireEngineEnv, uniquePrefix } from '../testing/engines';
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
// A fresh prefix per store: each contract test starts from an empty store, as with the memory one.
let stores = 0;
sessionStoreContract('redis', () =>
  Promise.resolve(new RedisSessionStore({ redis: shared, keyPrefix: `${run}:contract${++stores}:`, commandTimeoutMs: 2000 })),
);

const T = 1_000_000;
const conn = (user: string, session: string, serverId = 'srv-1') => ({ userId: user, deviceId: `dev-${session}`, sessionId: session, serverId, serverAddress: '' });

describe('RedisSessionStore on a real Redis', () => {
  it('reports each lapse exactly once while two processes sweep concurrently', async () => {
    const keyPrefix = `${run}:sweep:`;
    const a = new RedisSessionStore({ redis: await client(), keyPrefix, commandTimeoutMs: 5000, sweepBatch: 16 });
    const b = new RedisSessionStore({ redis: await client(), keyPrefix, commandTimeoutMs: 5000, sweepBatch: 16 });
    const users = Array.from({ length: 150 }, (_, i) => `u${i}`);
    for (const u of users) {
      await a.register(conn(u, `${u}-1`), T, 10_000, 10);
      await b.register(conn(u, `${u}-2`), T + 1, 10_000, 10);
    }
    const [fromA, fromB] = await Promise.all([a.expire(T + 20_000), b.expire(T + 20_000)]);
    const reported = [...fromA, ...fromB].map((t) => t.userId).sort();
    assert.deepEqual(reported, [...users].sort(), 'every user once, none twice');
    assert.ok(fromA.length > 0 && fromB.length > 0, 'both sweepers did part of the work');
    for (const t of [...fromA, ...fromB]) assert.equal(t.lastSeenMs, T + 10_001, 'offline when the later session lapsed');
    assert.deepEqual(await a.expire(T + 30_000), []);
  });

  it('refreshes a large heartbeat batch and names the unknown sessions', async () => {
    const store = new RedisSessionStore({ redis: shared, keyPrefix: `${run}:refresh:`, commandTimeoutMs: 5000 });
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) {
      await store.register(conn(`r${i}`, `r${i}`), T, 10_000, 10);
      ids.push(`r${i}`);
    }
    const ghosts = Array.from({ length: 601 }, (_, i) => `ghost${i}`);
    const { unknown } = await store.refresh([...ids, ...ghosts], T + 9_000, 10_000);
    assert.deepEqual(unknown, ghosts);
    assert.equal((await store.locate(['r0', 'r599'], T + 18_000)).length, 2, 'refreshed past the first TTL');
  });

  it('keeps presence:<user> with the TTL while online and deletes it on the offline transition', async () => {
    const keyPrefix = `${run}:presence:`;
    const store = new RedisSessionStore({ redis: shared, keyPrefix, commandTimeoutMs: 2000 });
    await store.register(conn('p', 'p-1'), T, 10_000, 10);
    const pttl = await shared.pttl(`${keyPrefix}presence:p`);
    assert.ok(pttl > 0 && pttl <= 10_000, `presence TTL ${pttl}`);
    assert.deepEqual(await shared.hgetall(`${keyPrefix}conn:p`), { 'p-1': JSON.stringify(['dev-p-1', 'srv-1', '']) });
    await store.unregister('p-1', T + 1);
    assert.equal(await shared.exists(`${keyPrefix}presence:p`, `${keyPrefix}conn:p`), 0);
    assert.equal(await shared.get(`${keyPrefix}seen:p`), String(T + 1));
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
      const store = new RedisSessionStore({ redis, keyPrefix: 'r:', commandTimeoutMs: timeoutMs });
      const now = Date.now();
      await store.register(conn('x', 'x-1'), now, 10_000, 10);
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
      // Down: nothing is queued for later, every call fails at once.
      await server.kill();
      await expectUnavailable(
        [store.register(conn('x', 'x-2'), now, 10_000, 10), store.refresh(['x-1'], now, 10_000), store.locate(['x'], now), store.expire(now)],
        0,
      );
      await server.restart();
      let recovered = false;
      await waitUntil(
        async () => (recovered = await store.register(conn('y', 'y-1'), Date.now(), 10_000, 10).then(() => true, () => false)),
        10_000,
        'a registration after the restart',
      );
      assert.ok(recovered);
      // The restarted server kept nothing: the chat server learns it from the heartbeat and registers again.
      assert.deepEqual(await store.refresh(['x-1'], Date.now(), 10_000), { unknown: ['x-1'] });
      assert.equal((await store.register(conn('x', 'x-1'), Date.now(), 10_000, 10)).becameOnline, true);
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

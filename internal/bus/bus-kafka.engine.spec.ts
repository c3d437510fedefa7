import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import type { BusRecord } from './bus';
import { KafkaBus, type KafkaBusOptions } from './bus-kafka';
import { busBatchContract } from './bus-batch.contract';
import { busContract } from './bus.contract';
import { requireEngineEnv, uniquePrefix } from '../testing/engines';
import { waitUntil } from '../testing/wait-until';

const brokers = requireEngineEnv('CHAT_KAFKA_BROKERS').split(',');
/** Every topic and group of this run starts with it; `after` deletes them. */
const run = uniquePrefix('bus');
const log = pino({ level: process.env.CHAT_TEST_LOG_LEVEL ?? 'silent' });
const buses: KafkaBus[] = [];

async function startBus(overrides: Partial<KafkaBusOptions> = {}): Promise<KafkaBus> {
  const bus = await KafkaBus.start({
    brokers,
    clientId: run,
    log,
    defaultTopic: { numPartitions: 3, replicationFactor: 1 },
    timeouts: { closeGraceMs: 1_000, subscribeMs: 20_000 },
    delivery: { maxAttempts: 3, backoffMs: 20, maxBackoffMs: 100 },
    ...overrides,
  });
  buses.push(bus);
  return bus;
}

after(async () => {
  await Promise.all(buses.map((b) => b.close().catch(() => undefined)));
  const admin = new Kafka({ clientId: `${run}-cleanup`, brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(run));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(run));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
});

busContract('kafka', () => startBus(), { prefix: `${run}-`, timeoutMs: 20_000 });
busBatchContract('kafka', () => startBus(), { prefix: `${run}-`, timeoutMs: 20_000 });

describe('KafkaBus on a real broker', () => {
  it('lingers: records published within lingerMs of the first come in one batch, and a lone one still comes', async () => {
    const bus = await startBus();
    const topic = `${run}-linger`;
    const batches: string[][] = [];
    const sub = bus.subscribeBatch(topic, (rs) => void batches.push(rs.map((r) => new TextDecoder().decode(r.payload))), {
      group: `${run}-linger-g`,
      maxBatch: 100,
      lingerMs: 2_000,
    });
    await sub.ready;
    for (const v of ['a', 'b', 'c', 'd', 'e']) await bus.publish(topic, 'k', new TextEncoder().encode(v));
    await waitUntil(() => batches.flat().length === 5, 20_000, 'the five records');
    assert.deepEqual(batches, [['a', 'b', 'c', 'd', 'e']], 'one batch: the first record waited for the others');
    const t0 = Date.now();
    await bus.publish(topic, 'k', new TextEncoder().encode('alone'));
    await waitUntil(() => batches.length === 2, 20_000, 'the lone record');
    assert.deepEqual(batches[1], ['alone']);
    console.log(`a lone record came after ${Date.now() - t0} ms with lingerMs 2000`);
    await bus.close();
  });

  it('tells onRequest the API of every request its producer, admin and consumers send', async () => {
    const apis = new Map<string, number>();
    const bus = await startBus({ onRequest: (api) => apis.set(api, (apis.get(api) ?? 0) + 1) });
    const topic = `${run}-counted`;
    const got: string[] = [];
    const sub = bus.subscribe(topic, (r) => void got.push(new TextDecoder().decode(r.payload)), { group: `${run}-counted-g` });
    await sub.ready;
    await bus.publish(topic, 'k', new TextEncoder().encode('x'));
    await waitUntil(() => got.length === 1, 20_000, 'the record');
    for (const api of ['Produce', 'Fetch', 'Heartbeat', 'JoinGroup', 'Metadata']) assert.ok((apis.get(api) ?? 0) > 0, `${api} counted (${JSON.stringify([...apis])})`);
    await bus.close();
  });

  it('creates the configured topics at startup with their partitions, idempotently', async () => {
    const topic = `${run}-declared`;
    await startBus({ topics: [{ topic, numPartitions: 5, replicationFactor: 1 }] });
    await startBus({ topics: [{ topic, numPartitions: 5, replicationFactor: 1 }] });
    const admin = new Kafka({ clientId: `${run}-check`, brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.equal(topics[0]?.partitions.length, 5);
    } finally {
      await admin.disconnect();
    }
  });

  // Last, and on a broker of its own (started through deploy/local in a temporary dir, on free
  // ports), so stopping it disturbs no suite running beside this one on the shared broker.
  it('publishes again after the broker restarts, and the group loses no acknowledged record', async () => {
    const kafka = await PrivateKafka.start();
    try {
      const bus = await startBus({ brokers: [kafka.brokers], timeouts: { publishMs: 5_000, closeGraceMs: 1_000, subscribeMs: 20_000 } });
      const topic = `${run}-restart`;
      const handled = new Set<string>();
      const sub = bus.subscribe(topic, (r: BusRecord) => void handled.add(new TextDecoder().decode(r.payload)), { group: `${run}-restart-g` });
      await sub.ready;

      const acked: string[] = [];
      let failures = 0;
      let stop = false;
      const publisher = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            await bus.publish(topic, `k${i % 7}`, new TextEncoder().encode(String(i)));
            acked.push(String(i));
          } catch {
            failures++;
            await delay(100);
          }
          await delay(10);
        }
      })();
      try {
        await waitUntil(() => handled.size >= 20, 20_000, 'records flowing before the restart');
        const t0 = Date.now();
        await kafka.script('down');
        const tDown = Date.now();
        await kafka.script('up');
        const tUp = Date.now();
        const ackedAtUp = acked.length;
        await waitUntil(() => acked.length >= ackedAtUp + 20, 60_000, '20 acknowledged publishes after the restart');
        const tPublishing = Date.now();
        stop = true;
        await publisher;
        await waitUntil(() => acked.every((v) => handled.has(v)), 60_000, 'every acknowledged record handled by the group');
        console.log(
          `broker restart: first up ${kafka.startMs} ms, down ${tDown - t0} ms, up ${tUp - tDown} ms, ` +
            `publishing again ${tPublishing - tUp} ms and group caught up ${Date.now() - tUp} ms after up; ` +
            `${acked.length} acknowledged, ${failures} publishes failed meanwhile`,
        );
      } finally {
        stop = true;
        await publisher;
        await bus.close();
      }
      assert.deepEqual(
        acked.filter((v) => !handled.has(v)),
        [],
        'no acknowledged record lost',
      );
    } finally {
      await kafka.dispose();
    }
  });
});

/** A single-node Kafka of one test's own, run by deploy/local/{up,down} in a temporary dir. */
class PrivateKafka {
  /** How long the first `up` took. */
  startMs = 0;

  private constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly dir: string,
    readonly brokers: string,
  ) {}

  static async start(): Promise<PrivateKafka> {
    const dir = mkdtempSync(join(tmpdir(), 'chat-bus-restart-'));
    const [port, controller] = await freePorts(2);
    const env = { ...process.env, CHAT_LOCAL_DIR: dir, CHAT_LOCAL_KAFKA_PORT: String(port), CHAT_LOCAL_KAFKA_CONTROLLER_PORT: String(controller) };
    const kafka = new PrivateKafka(env, dir, `127.0.0.1:${port}`);
    const t0 = Date.now();
    try {
      await kafka.script('up');
    } catch (err) {
      await kafka.dispose();
      throw err;
    }
    kafka.startMs = Date.now() - t0;
    return kafka;
  }

  /** Runs `deploy/local/<verb> kafka`; its error names the script's last lines (and the log file). */
  async script(verb: 'up' | 'down', ...args: string[]): Promise<void> {
    try {
      await promisify(execFile)(join(__dirname, '..', '..', 'deploy', 'local', verb), [...args, 'kafka'], { env: this.env, timeout: 180_000 });
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? String(err);
      throw new Error(`deploy/local/${verb} kafka failed: ${stderr.trim().split('\n').slice(-5).join(' | ')}`, { cause: err });
    }
  }

  async dispose(): Promise<void> {
    await this.script('down', '--purge').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  const ports = await Promise.all(
    servers.map((s) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)))),
  );
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

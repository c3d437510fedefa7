import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { KafkaBus } from '../bus/bus-kafka';
import { requireEngineEnv, uniquePrefix } from '../testing/engines';
import { KafkaLogOffsets } from './kafka-log-offsets';
import { LogCatchUp } from './log-catch-up';

const brokers = requireEngineEnv('CHAT_KAFKA_BROKERS').split(',');
const run = uniquePrefix('catchup');
const log = pino({ level: process.env.CHAT_TEST_LOG_LEVEL ?? 'silent' });
const closers: (() => Promise<void>)[] = [];

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  const admin = new Kafka({ clientId: `${run}-cleanup`, brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(run));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    await admin.deleteGroups([`${run}-sync`]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
});

describe('LogCatchUp on Kafka offsets (a resume waiting for the sync worker)', () => {
  it('is behind while the group has not handled what was appended, and caught up once it has', async () => {
    const topic = `${run}-log`;
    const group = `${run}-sync`;
    const bus = await KafkaBus.start({ brokers, clientId: run, log, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], timeouts: { closeGraceMs: 1_000, subscribeMs: 20_000 } });
    closers.push(() => bus.close());
    const offsets = await KafkaLogOffsets.connect({ brokers, clientId: `${run}-resume`, topic, group, requestTimeoutMs: 5_000, log });
    closers.push(() => offsets.close());
    const catchUp = new LogCatchUp(offsets, { pollMs: 50 });

    assert.equal(await catchUp.waitForHistory(2_000), true, 'an empty log is caught up');
    for (let i = 0; i < 6; i++) await bus.publish(topic, `conv-${i}`, new Uint8Array([i]));
    assert.equal(await catchUp.waitForHistory(300), false, 'nobody consumed the log yet');

    // The "sync worker": handles each record slowly, so the wait has to poll.
    let handled = 0;
    const sub = bus.subscribe(topic, async () => {
      await new Promise((r) => setTimeout(r, 100));
      handled++;
    }, { group, fromBeginning: true });
    await sub.ready;
    const t0 = Date.now();
    assert.equal(await catchUp.waitForHistory(20_000), true);
    assert.equal(handled, 6, 'caught up means every record appended before the wait was handled');
    assert.ok(Date.now() - t0 < 20_000);
    await sub.close();
  });
});

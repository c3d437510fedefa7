import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { PARKED_HEADERS, parkedTopic, type BusRecord } from '../bus/bus';
import { MemoryBus } from '../bus/bus-memory';
import { ChatError } from '../errors/chat-error';
import type { AppendEntry, AppendResult, BatchAppender } from '../history/message-store';
import { SqliteMessageStore } from '../history/message-store-sqlite';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { ChatMetrics } from '../telemetry/metrics';
import { sampleValue, parseMetrics } from '../telemetry/metrics-parse';
import { waitUntil } from '../testing/wait-until';
import { MemorySendClaims } from './send-claims-memory';
import { LoggedAppender } from './logged-appender';
import { encodeLogRecord, MESSAGE_LOG_TOPIC } from './message-log';
import { SyncWorker } from './sync-worker';

const log = pino({ level: 'silent' });
let next = 10_000_000n;
const draft = (text: string, clientMsgId = `c-${text}`): ChatMessage => ({
  messageId: (++next).toString(),
  conversationId: 'dm:ann:ben',
  senderId: 'ann',
  clientMsgId,
  text,
  createdAt: new Date(),
  seq: String(next - 10_000_000n),
  epoch: '10000001',
});

/** A store whose first `failures` batches fail as an unreachable Cassandra would; it notes each batch's size. */
class FlakyStore implements BatchAppender {
  calls = 0;
  readonly batches: number[] = [];
  constructor(
    private readonly inner: BatchAppender,
    private failures: number,
  ) {}
  appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    this.calls++;
    this.batches.push(entries.length);
    if (this.failures-- > 0) return Promise.reject(ChatError.unavailable('cassandra is down'));
    return this.inner.appendBatch(entries);
  }
}

async function setup(options: { failures?: number; maxBatch?: number; started?: boolean; unmarked?: boolean } = {}) {
  const bus = new MemoryBus(log, { delivery: { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 5 } });
  const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
  const flaky = new FlakyStore(store, options.failures ?? 0);
  const metrics = new ChatMetrics({ service: 'sync-worker', instance: 'test', processMetrics: false });
  const worker = new SyncWorker({ bus, store: flaky, metrics, log, retryBackoffMs: 5, maxRetryBackoffMs: 20, maxBatch: options.maxBatch ?? 16, lingerMs: 0 });
  if (options.started ?? true) await worker.start();
  const memoryClaims = new MemorySendClaims({ ttlMs: 60_000 });
  // Unmarked: no claim is ever noted appended, as when the first attempt's append failed.
  const claims = options.unmarked ? { claim: (m: ChatMessage) => memoryClaims.claim(m), appended: () => Promise.resolve() } : memoryClaims;
  const appender = new LoggedAppender({ bus, claims, publishTimeoutMs: 1_000 });
  const count = async (result: string) => sampleValue(parseMetrics(await metrics.text()), `chat_sync_writes_total{result="${result}"}`);
  const page = async () => (await store.listMessages({ conversationId: 'dm:ann:ben', limit: 100 })).messages.map((m) => m.text).reverse();
  return { bus, store, flaky, worker, appender, metrics, count, page };
}

describe('the message log and the sync worker', () => {
  it('writes every appended message to history in log order, and a retried send only once', async () => {
    const { appender, count, page, worker } = await setup({ unmarked: true });
    const first = await appender.append(draft('one'), ['ann', 'ben']);
    assert.equal(first.created, true);
    const retry = await appender.append(draft('one again', 'c-one'), ['ann', 'ben']);
    assert.equal(retry.created, false);
    assert.equal(retry.message.messageId, first.message.messageId, 'the retry is answered with the original id');
    await appender.append(draft('two'), ['ann', 'ben']);
    await waitUntil(async () => (await page()).length === 2 && (await count('duplicate')) === 1, 2_000, 'both messages and the re-appended retry');
    assert.deepEqual(await page(), ['one', 'two']);
    assert.equal(await count('created'), 2);
    await worker.stop();
  });

  it('waits out a store that is down, retrying in place, and loses nothing', async () => {
    const { appender, page, flaky, count, worker } = await setup({ failures: 3 });
    for (const t of ['a', 'b', 'c']) await appender.append(draft(t), ['ann', 'ben']);
    await waitUntil(async () => (await page()).length === 3, 3_000, 'the store to come back and the worker to catch up');
    assert.deepEqual(await page(), ['a', 'b', 'c'], 'order kept across the retries');
    assert.equal(await count('error'), 3);
    assert.equal(await count('created'), 3);
    assert.ok(flaky.calls >= 4);
    await worker.stop();
  });

  it('writes a backlog in batches of at most maxBatch, in log order', async () => {
    const { appender, page, flaky, count, worker, metrics } = await setup({ maxBatch: 4, started: false });
    const texts = Array.from({ length: 10 }, (_, i) => `m${i}`);
    for (const t of texts) await appender.append(draft(t), ['ann', 'ben']);
    await worker.start();
    await waitUntil(async () => (await page()).length === 10, 2_000, 'the backlog in history');
    assert.deepEqual(await page(), texts);
    assert.deepEqual(flaky.batches, [4, 4, 2], 'what waited, 4 at a time');
    assert.equal(await count('created'), 10);
    assert.equal(sampleValue(parseMetrics(await metrics.text()), 'chat_sync_lag_seconds_count'), 10);
    await worker.stop();
  });

  it('parks only a record that can never be written, and writes the rest of its batch', async () => {
    const { bus, appender, page, worker } = await setup({ started: false });
    const parked: BusRecord[] = [];
    await bus.subscribe(parkedTopic(MESSAGE_LOG_TOPIC), (r) => void parked.push(r)).ready;
    await appender.append(draft('before'), ['ann', 'ben']);
    const invalid = { ...draft('invalid'), messageId: '0' }; // not a Snowflake the store can hold
    await bus.publish(MESSAGE_LOG_TOPIC, invalid.conversationId, encodeLogRecord({ message: invalid, participantIds: ['ann', 'ben'], traceContext: {} }));
    await bus.publish(MESSAGE_LOG_TOPIC, invalid.conversationId, encodeLogRecord({ message: undefined, participantIds: [], traceContext: {} }));
    await appender.append(draft('after'), ['ann', 'ben']);
    await worker.start();
    await waitUntil(async () => (await page()).length === 2 && parked.length === 2, 2_000, 'the good records written and the bad ones parked');
    assert.deepEqual(await page(), ['before', 'after']);
    assert.deepEqual(parked.map((p) => p.headers?.[PARKED_HEADERS.error]), ['RangeError: message_id 0 is outside 1..2^63-1', 'ChatError: log record without a message']);
    await appender.append(draft('later'), ['ann', 'ben']);
    await waitUntil(async () => (await page()).length === 3, 2_000, 'the worker to move on');
    await worker.stop();
  });
});

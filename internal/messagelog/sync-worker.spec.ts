import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { MemoryBus } from '../bus/bus-memory';
import { ChatError } from '../errors/chat-error';
import type { AppendResult, MessageAppender } from '../history/message-store';
import { SqliteMessageStore } from '../history/message-store-sqlite';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { ChatMetrics } from '../telemetry/metrics';
import { sampleValue, parseMetrics } from '../telemetry/metrics-parse';
import { waitUntil } from '../testing/wait-until';
import { MemorySendClaims } from './send-claims-memory';
import { LoggedAppender } from './logged-appender';
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
});

/** A store whose first `failures` appends fail as an unreachable Cassandra would. */
class FlakyStore implements MessageAppender {
  calls = 0;
  constructor(
    private readonly inner: MessageAppender,
    private failures: number,
  ) {}
  append(m: ChatMessage, participants: readonly string[]): Promise<AppendResult> {
    this.calls++;
    if (this.failures-- > 0) return Promise.reject(ChatError.unavailable('cassandra is down'));
    return this.inner.append(m, participants);
  }
}

async function setup(failures = 0) {
  const bus = new MemoryBus(log, { delivery: { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 5 } });
  const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
  const flaky = new FlakyStore(store, failures);
  const metrics = new ChatMetrics({ service: 'sync-worker', instance: 'test', processMetrics: false });
  const worker = new SyncWorker({ bus, store: flaky, metrics, log, retryBackoffMs: 5, maxRetryBackoffMs: 20 });
  await worker.start();
  const appender = new LoggedAppender({ bus, claims: new MemorySendClaims({ ttlMs: 60_000 }), publishTimeoutMs: 1_000 });
  const count = async (result: string) => sampleValue(parseMetrics(await metrics.text()), `chat_sync_writes_total{result="${result}"}`);
  const page = async () => (await store.listMessages({ conversationId: 'dm:ann:ben', limit: 100 })).messages.map((m) => m.text).reverse();
  return { bus, store, flaky, worker, appender, count, page };
}

describe('the message log and the sync worker', () => {
  it('writes every appended message to history in log order, and a retried send only once', async () => {
    const { appender, count, page, worker } = await setup();
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
    const { appender, page, flaky, count, worker } = await setup(3);
    for (const t of ['a', 'b', 'c']) await appender.append(draft(t), ['ann', 'ben']);
    await waitUntil(async () => (await page()).length === 3, 3_000, 'the store to come back and the worker to catch up');
    assert.deepEqual(await page(), ['a', 'b', 'c'], 'order kept across the retries');
    assert.equal(await count('error'), 3);
    assert.ok(flaky.calls >= 6);
    await worker.stop();
  });
});

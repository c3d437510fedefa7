import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { MemoryBus } from '../bus/bus-memory';
import { ChatError } from '../errors/chat-error';
import { IdBehind } from '../snowflake/id-behind';
import { LoggedAppender } from './logged-appender';
import { MemorySendClaims } from './send-claims-memory';

const log = pino({ level: 'silent' });
const draft = (messageId: string): ChatMessage => ({ messageId, conversationId: 'dm:ann:ben', senderId: 'ann', clientMsgId: 'k-1', text: 'hello', createdAt: new Date(), seq: '0', epoch: '0' });

describe('LoggedAppender', () => {
  it('answers a retry with the original message, appends it again, and asks for it to be delivered again', async () => {
    const bus = new MemoryBus(log);
    let down = true;
    const flaky = { publish: (...args: Parameters<MemoryBus['publish']>) => (down ? Promise.reject(new Error('broker gone')) : bus.publish(...args)) } as unknown as MemoryBus;
    const appender = new LoggedAppender({ bus: flaky, claims: new MemorySendClaims({ ttlMs: 60_000 }), publishTimeoutMs: 1_000 });

    // The first attempt claims the key, then the log refuses it: the client sees UNAVAILABLE.
    await assert.rejects(appender.append(draft('100'), ['ann', 'ben']), (err: unknown) => err instanceof ChatError && err.codeName === 'UNAVAILABLE');
    down = false;
    // The retry (a new draft id) gets the claimed original, makes it durable, and delivers it: the
    // first attempt never did.
    const retry = await appender.append(draft('200'), ['ann', 'ben']);
    assert.deepEqual([retry.message.messageId, retry.created, retry.redeliver, retry.message.seq], ['100', false, true, '1']);
    const fresh = await appender.append({ ...draft('300'), clientMsgId: 'k-2' }, ['ann', 'ben']);
    assert.deepEqual([fresh.message.messageId, fresh.created, fresh.redeliver, fresh.message.seq], ['300', true, false, '2'], 'numbered after the original');
    await bus.close();
  });

  it('answers a retry of a send already in the log with the original, appending and delivering nothing again', async () => {
    const bus = new MemoryBus(log);
    let publishes = 0;
    const counting = { publish: (...args: Parameters<MemoryBus['publish']>) => (publishes++, bus.publish(...args)) } as unknown as MemoryBus;
    const appender = new LoggedAppender({ bus: counting, claims: new MemorySendClaims({ ttlMs: 60_000 }), publishTimeoutMs: 1_000 });
    await appender.append(draft('100'), ['ann', 'ben']);
    await new Promise((r) => setImmediate(r)); // the appended note is not awaited by the send
    const retry = await appender.append(draft('200'), ['ann', 'ben']);
    assert.deepEqual([retry.message.messageId, retry.created, retry.redeliver, publishes], ['100', false, false, 1]);
    await bus.close();
  });

  it('refuses a draft whose id is behind its conversation with IdBehind, claiming and appending nothing', async () => {
    const bus = new MemoryBus(log);
    const appender = new LoggedAppender({ bus, claims: new MemorySendClaims({ ttlMs: 60_000 }), publishTimeoutMs: 1_000 });
    await appender.append(draft('500'), ['ann', 'ben']);
    await assert.rejects(appender.append({ ...draft('400'), clientMsgId: 'k-late' }, ['ann', 'ben']), (err: unknown) => err instanceof IdBehind && err.newestId === 500n);
    const retried = await appender.append({ ...draft('501'), clientMsgId: 'k-late' }, ['ann', 'ben']);
    assert.deepEqual([retried.created, retried.message.seq], [true, '2']);
    await bus.close();
  });
});

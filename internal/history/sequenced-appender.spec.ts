import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { IdBehind } from '../snowflake/id-behind';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { SqliteMessageStore } from './message-store-sqlite';
import { SequencedAppender } from './sequenced-appender';

const C = 'dm:ann:ben';
let next = 1_000_000n;
const draft = (clientMsgId: string, conversationId = C, id = ++next): ChatMessage => ({
  messageId: id.toString(),
  conversationId,
  senderId: 'ann',
  clientMsgId,
  text: clientMsgId,
  createdAt: new Date(),
  seq: '0',
  epoch: '0',
});
const store = () => new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'normal' }), ownsDb: true });
const numbers = (m: ChatMessage) => [m.seq, m.epoch];

describe('SequencedAppender', () => {
  it('numbers each conversation 1, 2, 3 in call order, even when the appends run at once', async () => {
    const s = store();
    const a = new SequencedAppender(s);
    const drafts = ['a', 'b', 'c', 'd'].map((k) => draft(k));
    const results = await Promise.all(drafts.map((d) => a.append(d, ['ann', 'ben'])));
    assert.deepEqual(results.map((r) => numbers(r.message)), drafts.map((_, i) => [String(i + 1), drafts[0].messageId]));
    assert.deepEqual(numbers((await a.append(draft('x', 'dm:ann:cat'), ['ann', 'cat'])).message)[0], '1', 'conversations count apart');
    await s.close();
  });

  it('gives a duplicate the original numbers and takes none; refuses an id behind the newest', async () => {
    const s = store();
    const a = new SequencedAppender(s);
    const first = await a.append(draft('k'), ['ann', 'ben']);
    const again = await a.append(draft('k'), ['ann', 'ben']);
    assert.deepEqual([again.created, ...numbers(again.message)], [false, '1', first.message.messageId]);
    await assert.rejects(a.append(draft('late', C, 5n), ['ann', 'ben']), (err: unknown) => err instanceof IdBehind);
    assert.equal((await a.append(draft('n'), ['ann', 'ben'])).message.seq, '2', 'no hole');
    await s.close();
  });

  it('continues from the newest stored message after a restart, and leaves numbered messages as given', async () => {
    const s = store();
    await new SequencedAppender(s).append(draft('one'), ['ann', 'ben']);
    const restarted = new SequencedAppender(s);
    assert.equal((await restarted.append(draft('two'), ['ann', 'ben'])).message.seq, '2');
    const given = { ...draft('given'), seq: '9', epoch: '7' };
    assert.deepEqual(numbers((await restarted.append(given, ['ann', 'ben'])).message), ['9', '7']);
    await s.close();
  });
});

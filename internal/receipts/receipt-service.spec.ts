import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConversationAccess } from '../chat/conversation-access';
import { LocalEphemeralPublisher } from '../ephemeral/ephemeral-publisher-local';
import { ConnectionRegistry } from '../gateway/connection-registry';
import { GroupService } from '../group/group-service';
import { SqliteGroupStore } from '../group/group-store-sqlite';
import { SqliteMessageStore } from '../history/message-store-sqlite';
import type { HistoryCatchUp } from '../messagelog/history-catch-up';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { ReceiptService } from './receipt-service';
import { SqliteReceiptStore } from './receipt-store-sqlite';

const alice = { kind: 'user' as const, id: 'alice' };
const dm = 'dm:alice:bob';
const message = (id: string) => ({ messageId: id, conversationId: dm, senderId: 'bob', clientMsgId: `c${id}`, text: 'hi', createdAt: new Date(), seq: '0', epoch: '0' });

/**
 * A ReceiptService on the embedded stores, with a history catch-up the test controls: what
 * `waitForHistory` does stands for the sync worker writing what the log holds (the mesh).
 */
function setup(catchUp?: HistoryCatchUp) {
  const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
  const messages = new SqliteMessageStore({ db });
  const receipts = new SqliteReceiptStore({ db });
  const groups = new GroupService({ store: new SqliteGroupStore({ db }), limits: { maxGroupSize: 10, maxGroupNameBytes: 64 }, nextId: () => '1' });
  const service = new ReceiptService({ store: receipts, messages, access: new ConversationAccess(groups, messages), ephemeral: new LocalEphemeralPublisher(new ConnectionRegistry()), historyCatchUp: catchUp, historyWaitMs: 3_000 });
  return { messages, receipts, service };
}

describe('ReceiptService.read', () => {
  it('reads a message pushed before history had it, once the sync worker caught up', async () => {
    const waits: number[] = [];
    const sync: { history?: SqliteMessageStore } = {};
    const { messages, receipts, service } = setup({
      waitForHistory: async (ms) => {
        waits.push(ms);
        await sync.history?.append(message('101'), ['alice', 'bob']);
        return true;
      },
    });
    sync.history = messages;
    await messages.append(message('100'), ['alice', 'bob']);
    await service.read(alice, dm, '101', 'alice-device');
    assert.deepEqual(waits, [3_000], 'waited once, for at most historyWaitMs');
    assert.equal((await receipts.conversation(dm)).get('alice')?.read, 101n);
    // A message history already has costs no wait.
    await service.read(alice, dm, '100', 'alice-device');
    assert.equal(waits.length, 1);
  });

  it('answers NOT_FOUND for a message history still lacks after the wait', async () => {
    const { messages, service } = setup({ waitForHistory: () => Promise.resolve(false) });
    await messages.append(message('100'), ['alice', 'bob']);
    await assert.rejects(service.read(alice, dm, '999', 'alice-device'), /no message 999 in dm:alice:bob/);
  });
});

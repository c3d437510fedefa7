import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChatError } from '../errors/chat-error';
import { HistoryClient } from '../history/history-client';
import type { DeviceCursor } from '../history/message-store';
import { SqliteMessageStore } from '../history/message-store-sqlite';
import { serveHistory, type ServedHistory } from '../receipts/testing/served-history';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { StoreCursorBatchWriter, type DeviceCursorBatchWriter } from './device-cursor-batches';

const id = (n: number) => BigInt(n) << 22n;
/** A saved position: a hint (the newest id acknowledged) unless `exact`. */
const at = (n: number, exact = false): DeviceCursor => ({ messageId: id(n), exact });

/** The guarantees of DeviceCursorBatchWriter, against one adapter and the store it writes to. */
function writerContract(name: string, open: () => { writer: DeviceCursorBatchWriter; load: (u: string, d: string) => Promise<Map<string, DeviceCursor>> }): void {
  describe(`DeviceCursorBatchWriter contract: ${name}`, () => {
    it('saves many devices in one call, each keeping the maximum, also when listed twice', async () => {
      const { writer, load } = open();
      const run = randomUUID().slice(0, 8);
      const [ann, bob] = [`ann-${run}`, `bob-${run}`];
      await writer.saveDeviceCursorsBatch([]);
      await writer.saveDeviceCursorsBatch([
        { userId: ann, deviceId: 'phone', cursors: new Map([['dm:a:b', at(5)], ['g:1', at(2)]]) },
        { userId: ann, deviceId: 'laptop', cursors: new Map([['dm:a:b', at(3)]]) },
        { userId: bob, deviceId: 'phone', cursors: new Map([['dm:a:b', at(4)]]) },
      ]);
      await writer.saveDeviceCursorsBatch([
        { userId: ann, deviceId: 'phone', cursors: new Map([['dm:a:b', at(4)], ['g:1', at(6)]]) },
        { userId: ann, deviceId: 'phone', cursors: new Map([['dm:a:b', at(7)]]) },
      ]);
      assert.deepEqual(await load(ann, 'phone'), new Map([['dm:a:b', at(7)], ['g:1', at(6)]]));
      assert.deepEqual(await load(ann, 'laptop'), new Map([['dm:a:b', at(3)]]));
      assert.deepEqual(await load(bob, 'phone'), new Map([['dm:a:b', at(4)]]));
      assert.deepEqual(await load(bob, 'laptop'), new Map());
    });

    it('keeps an exact position over a hint at the same id, and the greater id whatever its kind', async () => {
      const { writer, load } = open();
      const ann = `ann-${randomUUID().slice(0, 8)}`;
      await writer.saveDeviceCursorsBatch([{ userId: ann, deviceId: 'phone', cursors: new Map([['dm:a:b', at(5, true)], ['g:1', at(5)], ['g:2', at(5, true)]]) }]);
      await writer.saveDeviceCursorsBatch([{ userId: ann, deviceId: 'phone', cursors: new Map([['dm:a:b', at(5)], ['g:1', at(5, true)], ['g:2', at(4, true)]]) }]);
      assert.deepEqual(await load(ann, 'phone'), new Map([['dm:a:b', at(5, true)], ['g:1', at(5, true)], ['g:2', at(5, true)]]));
      await writer.saveDeviceCursorsBatch([{ userId: ann, deviceId: 'phone', cursors: new Map([['dm:a:b', at(6)]]) }]);
      assert.deepEqual((await load(ann, 'phone')).get('dm:a:b'), at(6), 'a greater hint wins');
    });
  });
}

writerContract('the message store (chatd)', () => {
  const store = new SqliteMessageStore({ db: openSqliteDatabase({ path: ':memory:', synchronous: 'full' }), ownsDb: true });
  return { writer: new StoreCursorBatchWriter(store), load: (u, d) => store.loadDeviceCursors(u, d) };
});

describe('HistoryClient device cursors over gRPC', () => {
  let served: ServedHistory;
  let client: HistoryClient;
  before(async () => {
    served = await serveHistory();
    client = new HistoryClient(served.rpc, { maxDevicesPerCall: 3 });
  });
  after(async () => served.close());

  writerContract('the HistoryService client (mesh)', () => ({ writer: client, load: (u, d) => served.messages.loadDeviceCursors(u, d) }));

  it('saves a batch in one SaveDeviceCursorsBatch call', async () => {
    const count = (name: string) => served.calls.get(name) ?? 0;
    const [batches, singles] = [count('SaveDeviceCursorsBatch'), count('SaveDeviceCursors')];
    await client.saveDeviceCursorsBatch(['x1', 'x2', 'x3', 'x4'].map((userId) => ({ userId, deviceId: 'd', cursors: new Map([['g:9', at(1)]]) })));
    assert.deepEqual([count('SaveDeviceCursorsBatch'), count('SaveDeviceCursors')], [batches + 1, singles]);
  });

  it('loads the devices of one event-loop turn in one GetDeviceCursorsBatch call per CHAT_ACK_MAX_BATCH, each its own', async () => {
    await served.messages.saveDeviceCursors('cat', 'phone', new Map([['dm:cat:dan', at(8)]]));
    await served.messages.saveDeviceCursors('dan', 'phone', new Map([['dm:cat:dan', at(9)]]));
    const count = (name: string) => served.calls.get(name) ?? 0;
    const [batches, singles] = [count('GetDeviceCursorsBatch'), count('GetDeviceCursors')];
    const loaded = await Promise.all(['cat', 'dan', 'eve', 'cat'].map((u) => client.loadDeviceCursors(u, 'phone')));
    assert.deepEqual(loaded, [new Map([['dm:cat:dan', at(8)]]), new Map([['dm:cat:dan', at(9)]]), new Map(), new Map([['dm:cat:dan', at(8)]])]);
    assert.deepEqual([count('GetDeviceCursorsBatch'), count('GetDeviceCursors')], [batches + 2, singles], 'four loads, at most three devices per call');
  });

  it('gets INVALID_ARGUMENT for a batch with a bad entry, and saves none of it', async () => {
    const good = { userId: 'fay', deviceId: 'phone', cursors: new Map([['g:3', at(1)]]) };
    for (const bad of [{ ...good, deviceId: '' }, { ...good, userId: 'gus', cursors: new Map([['g:3', { messageId: 1n << 63n, exact: false }]]) }]) {
      await assert.rejects(client.saveDeviceCursorsBatch([good, bad]), (err: unknown) => err instanceof ChatError && err.codeName === 'INVALID_ARGUMENT');
    }
    await assert.rejects(served.rpc.call('getDeviceCursorsBatch', { devices: [{ userId: 'fay', deviceId: '' }] }), (err: unknown) => err instanceof ChatError && err.codeName === 'INVALID_ARGUMENT');
    assert.deepEqual(await served.messages.loadDeviceCursors('fay', 'phone'), new Map());
  });
});

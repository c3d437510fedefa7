import pino from 'pino';
import { EphemeralEvent } from '../../../gen/chat/v1/ephemeral';
import type { Receipt } from '../../../gen/chat/v1/message';
import { MemoryBus } from '../../bus/bus-memory';
import { ConversationAccess } from '../../chat/conversation-access';
import { EPHEMERAL_TOPIC } from '../../ephemeral/ephemeral-events';
import { SqliteGroupStore } from '../../group/group-store-sqlite';
import { GroupService } from '../../group/group-service';
import { SqliteMessageStore } from '../../history/message-store-sqlite';
import { ReceiptService } from '../../receipts/receipt-service';
import { SqliteReceiptStore } from '../../receipts/receipt-store-sqlite';
import { openSqliteDatabase } from '../../sqlite/sqlite-database';
import { AckBatcher } from '../ack-batcher';
import { StoreCursorBatchWriter } from '../device-cursor-batches';

/** Faults and pauses a test puts in front of the embedded adapters. */
export interface AckFaults {
  /** Cursor and receipt writes wait for this before they start (a slow history service). */
  gate?: Promise<void>;
  /** Throws from the next cursor write (the history service refusing one call). */
  failNextCursorWrite?: boolean;
}

/**
 * An AckBatcher on the embedded adapters, as `chatd` wires it (SQLite in memory, the in-process
 * bus), recording the size of each call it makes and each receipt published on the bus.
 */
export async function embeddedAcks(opts: { flushMs: number; maxBatch: number; faults?: AckFaults }) {
  const log = pino({ level: 'silent' });
  const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
  const messages = new SqliteMessageStore({ db });
  const receiptStore = new SqliteReceiptStore({ db });
  const bus = new MemoryBus(log);
  const groups = new GroupService({ store: new SqliteGroupStore({ db }), limits: { maxGroupSize: 10, maxGroupNameBytes: 64 }, nextId: () => '1' });
  const receipts = new ReceiptService({ store: receiptStore, messages, access: new ConversationAccess(groups, messages), bus });
  const writer = new StoreCursorBatchWriter(messages);
  const faults = opts.faults ?? {};
  /** Per call, how many devices (cursor writes) or watermarks (receipt writes) it carried. */
  const calls = { cursors: [] as number[], receipts: [] as number[] };
  const acks = new AckBatcher({
    cursors: {
      saveDeviceCursorsBatch: async (devices) => {
        calls.cursors.push(devices.length);
        await faults.gate;
        if (faults.failNextCursorWrite) {
          faults.failNextCursorWrite = false;
          throw new Error('history service unavailable');
        }
        await writer.saveDeviceCursorsBatch(devices);
      },
    },
    receipts: {
      deliveredBatch: async (upTo) => {
        calls.receipts.push(upTo.length);
        await faults.gate;
        await receipts.deliveredBatch(upTo);
      },
    },
    flushMs: opts.flushMs,
    maxBatch: opts.maxBatch,
    log,
  });
  const published: { recipientIds: string[]; receipt: Receipt }[] = [];
  const sub = bus.subscribe(EPHEMERAL_TOPIC, (r) => {
    const e = EphemeralEvent.decode(r.payload);
    if (e.event?.$case === 'receipt') published.push({ recipientIds: e.recipientIds, receipt: e.event.value });
  });
  await sub.ready;
  return {
    acks,
    messages,
    receiptStore,
    calls,
    published,
    close: async () => {
      await acks.close();
      await bus.close();
      db.close();
    },
  };
}

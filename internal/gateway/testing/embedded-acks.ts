import pino from 'pino';
import type { ConnectResponse } from '../../../gen/chat/v1/gateway';
import type { Receipt } from '../../../gen/chat/v1/message';
import { ConversationAccess } from '../../chat/conversation-access';
import { LocalEphemeralPublisher } from '../../ephemeral/ephemeral-publisher-local';
import { SqliteGroupStore } from '../../group/group-store-sqlite';
import { GroupService } from '../../group/group-service';
import { SqliteMessageStore } from '../../history/message-store-sqlite';
import { ReceiptService } from '../../receipts/receipt-service';
import { SqliteReceiptStore } from '../../receipts/receipt-store-sqlite';
import { openSqliteDatabase } from '../../sqlite/sqlite-database';
import { AckBatcher } from '../ack-batcher';
import { ConnectionRegistry } from '../connection-registry';
import { StoreCursorBatchWriter } from '../device-cursor-batches';

/** Faults and pauses a test puts in front of the embedded adapters. */
export interface AckFaults {
  /** Cursor and receipt writes wait for this before they start (a slow history service). */
  gate?: Promise<void>;
  /** Throws from the next cursor write (the history service refusing one call). */
  failNextCursorWrite?: boolean;
}

/** The users with a connected device in {@link embeddedAcks}, whose pushed receipts it records. */
const DEVICE_USERS = ['ann', 'bob'];

/**
 * An AckBatcher on the embedded adapters, as `chatd` wires it (SQLite in memory, receipts pushed
 * to a local ConnectionRegistry), recording the size of each call it makes and each receipt pushed
 * to the devices of ann and bob (one entry per receipt, with the users whose devices got it).
 */
export function embeddedAcks(opts: { flushMs: number; maxBatch: number; faults?: AckFaults }) {
  const log = pino({ level: 'silent' });
  const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
  const messages = new SqliteMessageStore({ db });
  const receiptStore = new SqliteReceiptStore({ db });
  const registry = new ConnectionRegistry();
  const groups = new GroupService({ store: new SqliteGroupStore({ db }), limits: { maxGroupSize: 10, maxGroupNameBytes: 64 }, nextId: () => '1' });
  const receipts = new ReceiptService({ store: receiptStore, messages, access: new ConversationAccess(groups, messages), ephemeral: new LocalEphemeralPublisher(registry) });
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
  // The registry pushes one frame object to every device an event is for: grouping by it gives
  // each receipt with its recipients, in push order.
  const pushed = new Map<ConnectResponse, { recipientIds: string[]; receipt: Receipt }>();
  for (const userId of DEVICE_USERS) {
    registry.add({
      userId,
      sessionId: `${userId}-device`,
      pushMessage: () => undefined,
      pushPresence: () => undefined,
      pushEphemeral: (frame) => {
        if (frame.frame?.$case !== 'receipt') return;
        const entry = pushed.get(frame) ?? { recipientIds: [], receipt: frame.frame.value };
        entry.recipientIds.push(userId);
        pushed.set(frame, entry);
      },
    });
  }
  return Promise.resolve({
    acks,
    messages,
    receiptStore,
    calls,
    get published() {
      return [...pushed.values()];
    },
    close: async () => {
      await acks.close();
      db.close();
    },
  });
}

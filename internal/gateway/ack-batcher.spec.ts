import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceiptKind } from '../../gen/chat/v1/message';
import { waitUntil } from '../testing/wait-until';
import { embeddedAcks } from './testing/embedded-acks';

const DM = 'dm:ann:bob';
const GROUP = 'g:42';
const id = (n: number) => BigInt(n) << 22n;
const upTo = (entries: Record<string, number>) => new Map(Object.entries(entries).map(([c, n]) => [c, id(n)]));
/** Saved positions: hints (the newest id acknowledged) unless `exact`. */
const saved = (entries: Record<string, number>, exact = false) => new Map(Object.entries(entries).map(([c, n]) => [c, { messageId: id(n), exact }]));
/** Never reached in these tests: only CHAT_ACK_MAX_BATCH, flush() and close() start a write. */
const NO_TIMER_MS = 600_000;

describe('AckBatcher', () => {
  it('writes every device of a flush in one cursor call, and each user\'s DELIVERED watermark once', async () => {
    const h = await embeddedAcks({ flushMs: NO_TIMER_MS, maxBatch: 100 });
    try {
      h.acks.add('ann', 'phone', upTo({ [DM]: 5 }));
      h.acks.add('ann', 'laptop', upTo({ [DM]: 7, [GROUP]: 3 }));
      h.acks.add('bob', 'phone', upTo({ [DM]: 6 }));
      h.acks.add('ann', 'phone', upTo({ [DM]: 4 })); // older than what the phone acked: ignored
      await h.acks.flush();

      assert.deepEqual(h.calls.cursors, [3], 'three devices, one call');
      assert.deepEqual(h.calls.receipts, [3], 'ann in the DM and the group, bob in the DM: one call');
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'phone'), saved({ [DM]: 5 }));
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'laptop'), saved({ [DM]: 7, [GROUP]: 3 }));
      assert.deepEqual(await h.receiptStore.conversation(DM), new Map([['ann', { delivered: id(7), read: 0n }], ['bob', { delivered: id(6), read: 0n }]]));
      await waitUntil(() => h.published.length === 2, 2_000, 'the two DM receipts');
      const seen = h.published.map((p) => [p.receipt.userId, p.receipt.upToMessageId, p.recipientIds.join()]).sort();
      assert.deepEqual(seen, [['ann', id(7).toString(), 'ann,bob'], ['bob', id(6).toString(), 'ann,bob']], 'one receipt per user, to both parties; none for the group');
      assert.ok(h.published.every((p) => p.receipt.kind === ReceiptKind.RECEIPT_KIND_DELIVERED));
    } finally {
      await h.close();
    }
  });

  it('saves held_through as an exact position in place of the hint, and moves no receipt with it', async () => {
    const h = await embeddedAcks({ flushMs: NO_TIMER_MS, maxBatch: 100 });
    try {
      h.acks.add('ann', 'phone', upTo({ [DM]: 9, [GROUP]: 4 }), upTo({ [DM]: 7 }));
      h.acks.add('ann', 'laptop', new Map(), upTo({ [GROUP]: 3 }));
      assert.deepEqual(h.acks.unsaved('ann', 'phone'), new Map([[DM, { messageId: id(7), exact: true }], [GROUP, { messageId: id(4), exact: false }]]));
      await h.acks.flush();
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'phone'), new Map([[DM, { messageId: id(7), exact: true }], [GROUP, { messageId: id(4), exact: false }]]));
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'laptop'), saved({ [GROUP]: 3 }, true));
      assert.equal((await h.receiptStore.conversation(DM)).get('ann')?.delivered, id(9), 'DELIVERED follows message_ids');
      assert.equal((await h.receiptStore.conversation(GROUP)).get('ann')?.delivered, id(4), 'not held_through');
    } finally {
      await h.close();
    }
  });

  it('publishes no receipt for a watermark that did not move', async () => {
    const h = await embeddedAcks({ flushMs: NO_TIMER_MS, maxBatch: 100 });
    try {
      h.acks.add('ann', 'phone', upTo({ [DM]: 7 }));
      await h.acks.flush();
      h.acks.add('ann', 'tablet', upTo({ [DM]: 6 })); // another device, behind the watermark
      await h.acks.flush();
      h.acks.add('ann', 'tablet', upTo({ [DM]: 8 }));
      await h.acks.flush();
      // Receipts of one conversation keep their order on the bus: the last one in means all are.
      await waitUntil(() => h.published.some((p) => p.receipt.upToMessageId === id(8).toString()), 2_000, 'the receipt of 8');
      assert.deepEqual(h.published.map((p) => p.receipt.upToMessageId), [id(7).toString(), id(8).toString()]);
    } finally {
      await h.close();
    }
  });

  it('writes CHAT_ACK_FLUSH_MS after the first pending ack', async () => {
    const h = await embeddedAcks({ flushMs: 20, maxBatch: 100 });
    try {
      h.acks.add('ann', 'phone', upTo({ [DM]: 5 }));
      h.acks.add('bob', 'phone', upTo({ [DM]: 5 }));
      assert.deepEqual(h.calls.cursors, [], 'nothing is written per ack');
      await waitUntil(() => h.calls.cursors.length === 1, 2_000, 'the timed flush');
      assert.deepEqual(h.calls.cursors, [2]);
    } finally {
      await h.close();
    }
  });

  it('starts a write at once with CHAT_ACK_MAX_BATCH devices pending, and splits a bigger flush into calls of at most that many', async () => {
    const h = await embeddedAcks({ flushMs: NO_TIMER_MS, maxBatch: 2 });
    try {
      h.acks.add('u1', 'd', upTo({ [GROUP]: 1 }));
      h.acks.add('u2', 'd', upTo({ [GROUP]: 1 })); // the second device fills the batch
      // The write starts on the next turn, so these join it.
      for (const u of ['u3', 'u4', 'u5']) h.acks.add(u, 'd', upTo({ [GROUP]: 1 }));
      await waitUntil(() => h.calls.cursors.length === 3 && h.calls.receipts.length === 3, 2_000, 'the full batch to be written');
      assert.deepEqual(h.calls.cursors, [2, 2, 1]);
      assert.deepEqual(h.calls.receipts, [2, 2, 1]);
      await h.acks.flush();
      assert.equal((await h.receiptStore.conversation(GROUP)).size, 5);
    } finally {
      await h.close();
    }
  });

  it('answers positions not written yet, runs one write at a time, and takes later acks in the next', async () => {
    let release!: () => void;
    const h = await embeddedAcks({ flushMs: NO_TIMER_MS, maxBatch: 100, faults: { gate: new Promise<void>((r) => (release = r)) } });
    try {
      assert.equal(h.acks.unsaved('ann', 'phone'), undefined);
      h.acks.add('ann', 'phone', upTo({ [DM]: 5 }));
      const first = h.acks.flush();
      await waitUntil(() => h.calls.cursors.length === 1, 2_000, 'the first write to start');
      h.acks.add('ann', 'phone', upTo({ [DM]: 4, [GROUP]: 2 }));
      const second = h.acks.flush();
      assert.deepEqual(h.acks.unsaved('ann', 'phone'), saved({ [DM]: 5, [GROUP]: 2 }), 'the batch being written and the pending one');
      assert.equal(h.acks.unsaved('ann', 'tablet'), undefined);
      assert.equal(h.acks.flush(), second, 'a flush asked for while one waits is the same flush');
      assert.deepEqual(h.calls.cursors, [1], 'the second write waits for the first');
      release();
      await Promise.all([first, second]);
      assert.deepEqual(h.calls.cursors, [1, 1]);
      assert.equal(h.acks.unsaved('ann', 'phone'), undefined);
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'phone'), saved({ [DM]: 5, [GROUP]: 2 }));
    } finally {
      await h.close();
    }
  });

  it('logs a failed cursor write, still advances the watermarks, and goes on with the next flush', async () => {
    const h = await embeddedAcks({ flushMs: NO_TIMER_MS, maxBatch: 100, faults: { failNextCursorWrite: true } });
    try {
      h.acks.add('ann', 'phone', upTo({ [DM]: 5 }));
      await h.acks.flush();
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'phone'), new Map(), 'lost: the device only replays more');
      assert.equal((await h.receiptStore.conversation(DM)).get('ann')?.delivered, id(5));
      h.acks.add('ann', 'phone', upTo({ [DM]: 6 }));
      await h.acks.flush();
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'phone'), saved({ [DM]: 6 }));
    } finally {
      await h.close();
    }
  });

  it('writes what is pending on close, and an ack after it at once', async () => {
    const h = await embeddedAcks({ flushMs: NO_TIMER_MS, maxBatch: 100 });
    try {
      h.acks.add('ann', 'phone', upTo({ [DM]: 5 }));
      await h.acks.close();
      assert.deepEqual(await h.messages.loadDeviceCursors('ann', 'phone'), saved({ [DM]: 5 }));
      h.acks.add('ann', 'phone', upTo({ [DM]: 9 }));
      await waitUntil(async () => (await h.messages.loadDeviceCursors('ann', 'phone')).get(DM)?.messageId === id(9), 2_000, 'the late ack to be written');
    } finally {
      await h.close();
    }
  });
});

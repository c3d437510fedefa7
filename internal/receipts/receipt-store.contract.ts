import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptKind } from '../../gen/chat/v1/message';
import type { ReceiptAdvance, ReceiptStore } from './receipt-store';

/** A store under test and how to dispose of it. */
export interface ReceiptStoreHarness {
  store: ReceiptStore;
  cleanup: () => Promise<void>;
}

const { RECEIPT_KIND_DELIVERED: DELIVERED, RECEIPT_KIND_READ: READ } = ReceiptKind;

/** Fresh names per test, so adapters over shared storage (one keyspace per run) stay correct. */
function names(): { user: (n: string) => string; conv: (n: string) => string } {
  const run = randomUUID().slice(0, 8);
  return { user: (n) => `${n}-${run}`, conv: (n) => `g:${n}${run}` };
}

/** The guarantees of the ReceiptStore port, registered as tests against one adapter. */
export function receiptStoreContract(name: string, open: () => Promise<ReceiptStoreHarness>): void {
  const withStore = (fn: (store: ReceiptStore) => Promise<void>) => async () => {
    const { store, cleanup } = await open();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  };

  describe(`ReceiptStore contract: ${name}`, () => {
    it('raises a watermark only forwards and says whether it moved', withStore(async (store) => {
      const { user, conv } = names();
      const [c, alice] = [conv('a'), user('alice')];
      assert.equal(await store.advance(c, alice, READ, 100n), true);
      assert.equal(await store.advance(c, alice, READ, 100n), false);
      assert.equal(await store.advance(c, alice, READ, 50n), false);
      assert.equal(await store.advance(c, alice, READ, 101n), true);
      assert.deepEqual(await store.conversation(c), new Map([[alice, { delivered: 0n, read: 101n }]]));
    }));

    it('keeps DELIVERED and READ apart', withStore(async (store) => {
      const { user, conv } = names();
      const [c, bob] = [conv('b'), user('bob')];
      assert.equal(await store.advance(c, bob, DELIVERED, 300n), true);
      assert.equal(await store.advance(c, bob, READ, 200n), true);
      assert.equal(await store.advance(c, bob, DELIVERED, 250n), false);
      assert.deepEqual(await store.ofUser(bob, [c]), new Map([[c, { delivered: 300n, read: 200n }]]));
    }));

    it('lists every user of a conversation, and a user only in the conversations asked for', withStore(async (store) => {
      const { user, conv } = names();
      const [c1, c2, c3] = [conv('x'), conv('y'), conv('z')];
      const [alice, bob] = [user('alice'), user('bob')];
      await store.advance(c1, alice, READ, 10n);
      await store.advance(c1, bob, DELIVERED, 12n);
      await store.advance(c2, alice, DELIVERED, 20n);
      await store.advance(c3, alice, READ, 30n);
      assert.deepEqual(await store.conversation(c1), new Map([[alice, { delivered: 0n, read: 10n }], [bob, { delivered: 12n, read: 0n }]]));
      assert.deepEqual(await store.ofUser(alice, [c1, c2, conv('none'), c1]), new Map([[c1, { delivered: 0n, read: 10n }], [c2, { delivered: 20n, read: 0n }]]));
      assert.deepEqual(await store.ofUser(bob, []), new Map());
      assert.deepEqual(await store.conversation(conv('empty')), new Map());
    }));

    it('keeps the maximum under concurrent advances', withStore(async (store) => {
      const { user, conv } = names();
      const [c, carol] = [conv('c'), user('carol')];
      const ids = Array.from({ length: 40 }, (_, i) => BigInt(1 + ((i * 17) % 40)) << 22n);
      const moved = await Promise.all(ids.map((id) => store.advance(c, carol, READ, id)));
      assert.ok(moved.some(Boolean));
      assert.equal((await store.conversation(c)).get(carol)?.read, 40n << 22n);
    }));

    it('advances many watermarks in one call, answering each entry in order', withStore(async (store) => {
      const { user, conv } = names();
      const [c1, c2] = [conv('m'), conv('n')];
      const [alice, bob] = [user('alice'), user('bob')];
      assert.deepEqual(await store.advanceMany([]), []);
      const first = await store.advanceMany([
        { conversationId: c1, userId: alice, kind: DELIVERED, messageId: 100n },
        { conversationId: c2, userId: alice, kind: DELIVERED, messageId: 50n },
        { conversationId: c1, userId: bob, kind: DELIVERED, messageId: 10n },
        { conversationId: c1, userId: alice, kind: DELIVERED, messageId: 90n },
        { conversationId: c1, userId: alice, kind: READ, messageId: 5n },
        { conversationId: c1, userId: alice, kind: DELIVERED, messageId: 120n },
      ]);
      assert.deepEqual(first, [true, true, true, false, true, true], 'entries of one watermark apply in order');
      assert.deepEqual(await store.conversation(c1), new Map([[alice, { delivered: 120n, read: 5n }], [bob, { delivered: 10n, read: 0n }]]));
      assert.deepEqual(await store.ofUser(alice, [c2]), new Map([[c2, { delivered: 50n, read: 0n }]]));
    }));

    it('answers false exactly in a batch, also for watermarks moved by single advances', withStore(async (store) => {
      const { user, conv } = names();
      const [c, erin] = [conv('e'), user('erin')];
      assert.equal(await store.advance(c, erin, DELIVERED, 200n), true);
      const moved = await store.advanceMany([
        { conversationId: c, userId: erin, kind: DELIVERED, messageId: 200n },
        { conversationId: c, userId: erin, kind: DELIVERED, messageId: 150n },
      ]);
      assert.deepEqual(moved, [false, false]);
      assert.deepEqual(await store.advanceMany([{ conversationId: c, userId: erin, kind: DELIVERED, messageId: 201n }]), [true]);
      assert.equal(await store.advance(c, erin, DELIVERED, 201n), false, 'a single advance sees what the batch wrote');
      assert.equal((await store.conversation(c)).get(erin)?.delivered, 201n);
    }));

    it('keeps the maximum under concurrent batches', withStore(async (store) => {
      const { user, conv } = names();
      const [c, frank] = [conv('f'), user('frank')];
      const ids = Array.from({ length: 40 }, (_, i) => BigInt(1 + ((i * 17) % 40)) << 22n);
      const batches = [0, 1, 2, 3].map((b) => ids.filter((_, i) => i % 4 === b).map((messageId): ReceiptAdvance => ({ conversationId: c, userId: frank, kind: DELIVERED, messageId })));
      const moved = (await Promise.all(batches.map((b) => store.advanceMany(b)))).flat();
      assert.ok(moved.some(Boolean));
      assert.equal((await store.conversation(c)).get(frank)?.delivered, 40n << 22n);
    }));

    it('validates every entry of a batch before moving any', withStore(async (store) => {
      const { user, conv } = names();
      const [c, gina] = [conv('g'), user('gina')];
      await assert.rejects(
        store.advanceMany([
          { conversationId: c, userId: gina, kind: DELIVERED, messageId: 7n },
          { conversationId: c, userId: gina, kind: READ, messageId: 1n << 63n },
        ]),
        RangeError,
      );
      assert.deepEqual(await store.conversation(c), new Map());
    }));

    it('keeps ids up to 2^63-1 exact and rejects larger ones', withStore(async (store) => {
      const { user, conv } = names();
      const [c, dave] = [conv('d'), user('dave')];
      const max = (1n << 63n) - 1n;
      assert.equal(await store.advance(c, dave, DELIVERED, (1n << 53n) + 1n), true);
      assert.equal(await store.advance(c, dave, READ, max), true);
      assert.deepEqual((await store.conversation(c)).get(dave), { delivered: (1n << 53n) + 1n, read: max });
      await assert.rejects(store.advance(c, dave, READ, 1n << 63n), RangeError);
    }));
  });
}

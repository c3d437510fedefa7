import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { MESSAGE_BUCKET_MS, bucketOf } from './bucket';
import type { MessagePage, MessageStore } from './message-store';

/** A store under test and how to dispose of it (close, drop the temp file or keyspace). */
export interface MessageStoreHarness {
  store: MessageStore;
  cleanup: () => Promise<void>;
}

const EPOCH_MS = 1767225600000;

/** A Snowflake-shaped id: ms since the 2026 epoch << 22 | worker << 12 | sequence. */
function snowflake(ms: number, worker = 0, seq = 0): bigint {
  return (BigInt(ms) << 22n) | (BigInt(worker) << 12n) | BigInt(seq);
}

/**
 * Fresh names per test, so the suite is also correct for adapters whose factory hands out stores
 * over shared storage (one Cassandra keyspace for the whole run).
 */
function names(): { user(n: string): string; group(): string } {
  const run = randomUUID().slice(0, 8);
  return { user: (n) => `${n}-${run}`, group: () => `g:${snowflake(Math.floor(Math.random() * 2 ** 40), 7)}` };
}

function message(conversationId: string, id: bigint, senderId: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    messageId: id.toString(),
    conversationId,
    senderId,
    clientMsgId: `c-${id}`,
    text: `text ${id}`,
    createdAt: new Date(EPOCH_MS + Number(id >> 22n)),
    ...extra,
  };
}

const ids = (page: MessagePage): string[] => page.messages.map((m) => m.messageId);
const asc = (xs: readonly bigint[]): string[] => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);

/** Pages through a conversation backwards from the newest, then forwards from the start. */
async function pageBothWays(store: MessageStore, conversationId: string, sizes: readonly number[], total: number) {
  const backward: string[] = [];
  const forward: string[] = [];
  for (const [out, forwards] of [[backward, false], [forward, true]] as const) {
    let cursor: bigint | undefined = forwards ? 0n : undefined;
    for (let i = 0; ; i++) {
      assert.ok(i <= total + 1, 'paging did not terminate');
      const limit = sizes[i % sizes.length] ?? 1;
      const page = await store.listMessages(
        forwards ? { conversationId, afterId: cursor, limit } : { conversationId, beforeId: cursor, limit },
      );
      const left = total - out.length;
      assert.equal(page.messages.length, Math.min(limit, left), 'a page is full unless it is the last');
      assert.equal(page.hasMore, left > limit, `hasMore must be exact (${left} left, limit ${limit})`);
      out.push(...ids(page));
      if (!page.hasMore) break;
      cursor = BigInt(out[out.length - 1] ?? '0');
    }
  }
  return { backward, forward };
}

/**
 * Registers the MessageStore contract (the guarantees in message-store.ts) against stores made by
 * `factory`. Each test makes its own store and cleans it up.
 */
export function messageStoreContract(name: string, factory: () => Promise<MessageStoreHarness>): void {
  const withStore = async (fn: (store: MessageStore) => Promise<void>): Promise<void> => {
    const { store, cleanup } = await factory();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  };

  describe(`MessageStore contract: ${name}`, () => {
    it('stores a message exactly as given and finds it by client key', () =>
      withStore(async (store) => {
        const n = names();
        const conv = n.group();
        const id = snowflake(123_456_789, 5, 17);
        const sent = message(conv, id, n.user('alice'), { text: 'héllo 👋\nwörld', clientMsgId: 'k-1' });
        const result = await store.append(sent, [n.user('alice')]);
        assert.equal(result.created, true);
        assert.deepEqual(result.message, sent);
        assert.deepEqual((await store.listMessages({ conversationId: conv, limit: 10 })).messages, [sent]);
        assert.deepEqual(await store.findByClientMsgId(n.user('alice'), 'k-1'), sent);
        assert.equal(await store.findByClientMsgId(n.user('alice'), 'k-2'), undefined);
        assert.equal(await store.findByClientMsgId(n.user('bob'), 'k-1'), undefined);
      }));

    it('is idempotent by message id', () =>
      withStore(async (store) => {
        const n = names();
        const conv = n.group();
        const sent = message(conv, snowflake(1000), n.user('alice'));
        await store.append(sent, [n.user('alice')]);
        const again = await store.append(sent, [n.user('alice')]);
        assert.deepEqual(again, { message: sent, created: false });
        // A known id wins even when the rest differs: the stored message is returned, unchanged.
        const altered = await store.append({ ...sent, text: 'altered', clientMsgId: 'other-key' }, [n.user('alice')]);
        assert.deepEqual(altered, { message: sent, created: false });
        assert.deepEqual((await store.listMessages({ conversationId: conv, limit: 10 })).messages, [sent]);
      }));

    it('is idempotent by (sender, client message id): a retry with a new id returns the original', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, bob] = [n.user('alice'), n.user('bob')];
        const conv = n.group();
        const original = message(conv, snowflake(2000), alice, { clientMsgId: 'retry-me', text: 'first' });
        await store.append(original, [alice, bob]);
        const retry = message(conv, snowflake(3000), alice, { clientMsgId: 'retry-me', text: 'second' });
        assert.deepEqual(await store.append(retry, [alice, bob]), { message: original, created: false });
        assert.deepEqual(ids(await store.listMessages({ conversationId: conv, limit: 10 })), [original.messageId]);
        const list = await store.listConversations(bob, 10);
        assert.equal(list.conversations[0]?.lastMessage?.messageId, original.messageId);
        // The same client key from another sender is another message.
        const other = message(conv, snowflake(4000), bob, { clientMsgId: 'retry-me' });
        assert.equal((await store.append(other, [alice, bob])).created, true);
        assert.equal((await store.listMessages({ conversationId: conv, limit: 10 })).messages.length, 2);
      }));

    it('advances the conversation list of every participant, never backwards', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((u) => n.user(u));
        const dm = `dm:${alice}:${bob}`;
        const group = n.group();
        await store.append(message(dm, snowflake(10), alice), [alice, bob]);
        await store.append(message(group, snowflake(20), carol), [alice, bob, carol]);
        await store.append(message(dm, snowflake(30), bob), [alice, bob]);
        // An older message arriving late must not move the list back to it.
        await store.append(message(group, snowflake(15), alice), [alice, bob, carol]);
        for (const [user, expected] of [
          [alice, [[dm, 30], [group, 20]]],
          [bob, [[dm, 30], [group, 20]]],
          [carol, [[group, 20]]],
          [dave, []],
        ] as const) {
          const page = await store.listConversations(user, 10);
          const got = page.conversations.map((c) => [c.conversationId, c.lastMessage?.messageId]);
          assert.deepEqual(got, expected.map(([c, ms]) => [c, snowflake(ms).toString()]), user);
          assert.equal(page.hasMore, false);
        }
        // A member added later gets the conversation listed with its next message.
        await store.append(message(group, snowflake(40), carol), [alice, bob, carol, dave]);
        assert.deepEqual((await store.listConversations(dave, 10)).conversations.map((c) => c.conversationId), [group]);
        const latest = (await store.listConversations(alice, 1)).conversations[0];
        assert.deepEqual(latest, { conversationId: group, lastMessage: message(group, snowflake(40), carol), unreadCount: 0, readUpToMessageId: '0', othersDeliveredUpToMessageId: '0', othersReadUpToMessageId: '0' });
      }));

    it('pages the conversation list newest first with beforeMessageId and exact hasMore', () =>
      withStore(async (store) => {
        const n = names();
        const user = n.user('alice');
        const lastIds = [7, 3, 11, 5, 2, 13].map((ms) => snowflake(ms * MESSAGE_BUCKET_MS, 1, ms));
        const convs = lastIds.map(() => n.group());
        for (const [i, id] of lastIds.entries()) await store.append(message(convs[i] ?? '', id, user), [user]);
        const expected = lastIds.map((id, i) => ({ id, conv: convs[i] })).sort((a, b) => (a.id > b.id ? -1 : 1));
        const seen: string[] = [];
        let before: bigint | undefined;
        for (const wantMore of [true, false]) {
          const page = await store.listConversations(user, 3, before);
          assert.equal(page.hasMore, wantMore);
          for (const c of page.conversations) seen.push(c.conversationId);
          before = BigInt(page.conversations.at(-1)?.lastMessage?.messageId ?? '0');
        }
        assert.deepEqual(seen, expected.map((e) => e.conv));
        assert.deepEqual(await store.listConversations(user, 3, before), { conversations: [], hasMore: false });
        assert.equal((await store.listConversations(user, 6)).hasMore, false);
        assert.equal((await store.listConversations(user, 5)).hasMore, true);
      }));

    it('pages backwards and forwards across buckets without skipping or repeating', () =>
      withStore(async (store) => {
        const n = names();
        const conv = n.group();
        const all = [0, 1, 2, 5].flatMap((b) => [0, 1, 2].map((k) => snowflake(b * MESSAGE_BUCKET_MS + k * 1000 + 1, 2, k)));
        assert.equal(new Set(all.map(bucketOf)).size, 4);
        for (const id of [...all].reverse()) await store.append(message(conv, id, n.user('a')), []);
        const { backward, forward } = await pageBothWays(store, conv, [4], all.length);
        assert.deepEqual(backward, asc(all).reverse());
        assert.deepEqual(forward, asc(all));
        // Cursors need not be stored ids.
        const mid = snowflake(2 * MESSAGE_BUCKET_MS + 1500, 9, 9);
        assert.deepEqual(ids(await store.listMessages({ conversationId: conv, beforeId: mid, limit: 2 })), asc(all).slice(6, 8).reverse());
        assert.deepEqual(ids(await store.listMessages({ conversationId: conv, afterId: mid, limit: 2 })), asc(all).slice(8, 10));
        assert.deepEqual(await store.listMessages({ conversationId: n.group(), limit: 5 }), { messages: [], hasMore: false });
      }));

    it('knows hasMore exactly when a page ends at the edge of a bucket', () =>
      withStore(async (store) => {
        const n = names();
        const conv = n.group();
        // Three messages in each of two buckets far apart, with empty buckets between and around.
        const older = [1, 2, 3].map((k) => snowflake(2 * MESSAGE_BUCKET_MS + k, 1, k));
        const newer = [1, 2, 3].map((k) => snowflake(9 * MESSAGE_BUCKET_MS + k, 1, k));
        for (const id of [...newer, ...older]) await store.append(message(conv, id, n.user('a')), []);
        const page = (q: { beforeId?: bigint; afterId?: bigint; limit: number }) => store.listMessages({ conversationId: conv, ...q });
        const got = async (q: Parameters<typeof page>[0]) => {
          const p = await page(q);
          return [ids(p), p.hasMore];
        };
        assert.deepEqual(await got({ limit: 3 }), [asc(newer).reverse(), true]);
        assert.deepEqual(await got({ beforeId: newer[0], limit: 3 }), [asc(older).reverse(), false]);
        assert.deepEqual(await got({ afterId: 0n, limit: 3 }), [asc(older), true]);
        assert.deepEqual(await got({ afterId: older[2], limit: 3 }), [asc(newer), false]);
        assert.deepEqual(await got({ limit: 6 }), [[...asc(newer).reverse(), ...asc(older).reverse()], false]);
        assert.deepEqual(await got({ afterId: 0n, limit: 5 }), [[...asc(older), ...asc(newer).slice(0, 2)], true]);
        assert.deepEqual(await got({ beforeId: older[0], limit: 3 }), [[], false]);
        assert.deepEqual(await got({ afterId: newer[2], limit: 3 }), [[], false]);
      }));

    it('property: any insert order and page sizes yield exactly the stored ids, in order', () =>
      withStore(async (store) => {
        const idArb = fc
          .record({
            bucket: fc.integer({ min: 0, max: 4 }),
            ms: fc.oneof(fc.constantFrom(0, 1, MESSAGE_BUCKET_MS - 1), fc.integer({ min: 0, max: MESSAGE_BUCKET_MS - 1 })),
            worker: fc.integer({ min: 0, max: 1023 }),
            seq: fc.integer({ min: 0, max: 3 }),
          })
          .map(({ bucket, ms, worker, seq }) => snowflake((100 + bucket) * MESSAGE_BUCKET_MS + ms, worker, seq));
        const scenario = fc.record({
          inserted: fc.uniqueArray(idArb, { minLength: 1, maxLength: 30 }), // random order = insert order
          sizes: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 6 }),
        });
        await fc.assert(
          fc.asyncProperty(scenario, async ({ inserted, sizes }) => {
            // Fresh names per run: shrinking replays ids, which must not hit an earlier run's client keys.
            const run = names();
            const conv = run.group();
            for (const id of inserted) await store.append(message(conv, id, run.user('p')), []);
            const { backward, forward } = await pageBothWays(store, conv, sizes, inserted.length);
            assert.deepEqual(backward, asc(inserted).reverse());
            assert.deepEqual(forward, asc(inserted));
          }),
          { numRuns: 25 },
        );
      }));

    it('knows which conversations are in a user list', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, bob, eve] = [n.user('alice'), n.user('bob'), n.user('eve')];
        const dm = `dm:${alice}:${bob}`;
        assert.equal(await store.hasConversation(alice, dm), false);
        await store.append(message(dm, snowflake(77), alice), [alice, bob]);
        assert.equal(await store.hasConversation(alice, dm), true);
        assert.equal(await store.hasConversation(bob, dm), true);
        assert.equal(await store.hasConversation(eve, dm), false);
        assert.equal(await store.hasConversation(alice, n.group()), false);
      }));

    it('appends a batch as one append after the other, in order', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, bob, carol] = [n.user('alice'), n.user('bob'), n.user('carol')];
        const dm = `dm:${alice}:${bob}`;
        const group = n.group();
        const at = (b: number, k: number) => snowflake(b * MESSAGE_BUCKET_MS + k, 3, k);
        const first = message(dm, at(1, 100), alice, { clientMsgId: 'b-1' });
        const inGroup = message(group, at(1, 200), carol, { clientMsgId: 'b-2', createdAt: undefined });
        const retry = message(dm, at(1, 300), alice, { clientMsgId: 'b-1', text: 'retried' });
        const older = message(dm, at(0, 50), bob, { clientMsgId: 'b-3' });
        const newest = message(dm, at(2, 10), bob, { clientMsgId: 'b-4' });
        const results = await store.appendBatch([
          { message: first, participantIds: [alice, bob] },
          { message: inGroup, participantIds: [alice, carol] },
          { message: retry, participantIds: [alice, bob] },
          { message: inGroup, participantIds: [alice, carol] },
          { message: older, participantIds: [alice, bob] },
          { message: newest, participantIds: [alice, bob] },
        ]);
        const storedGroup = message(group, at(1, 200), carol, { clientMsgId: 'b-2' });
        assert.deepEqual(results, [
          { message: first, created: true },
          { message: storedGroup, created: true },
          { message: first, created: false },
          { message: storedGroup, created: false },
          { message: older, created: true },
          { message: newest, created: true },
        ]);
        const { backward, forward } = await pageBothWays(store, dm, [2], 3);
        assert.deepEqual(backward, [newest, first, older].map((m) => m.messageId));
        assert.deepEqual(forward, [older, first, newest].map((m) => m.messageId));
        assert.deepEqual(await store.findByClientMsgId(alice, 'b-1'), first);
        const lists = async (user: string) => (await store.listConversations(user, 10)).conversations.map((c) => [c.conversationId, c.lastMessage?.messageId]);
        assert.deepEqual(await lists(alice), [[dm, newest.messageId], [group, storedGroup.messageId]]);
        assert.deepEqual(await lists(bob), [[dm, newest.messageId]]);
        assert.deepEqual(await lists(carol), [[group, storedGroup.messageId]]);
        assert.equal(await store.hasConversation(carol, dm), false);
      }));

    it('appends a batch again as nothing new (a redelivered batch), and dedupes it against earlier appends', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, bob] = [n.user('alice'), n.user('bob')];
        const conv = n.group();
        const earlier = message(conv, snowflake(5_000), alice, { clientMsgId: 'e-1' });
        await store.append(earlier, [alice, bob]);
        const entries = [
          { message: message(conv, snowflake(5_001), bob, { clientMsgId: 'e-2' }), participantIds: [alice, bob] },
          { message: message(conv, snowflake(5_002), alice, { clientMsgId: 'e-1', text: 'a retry of earlier' }), participantIds: [alice, bob] },
          { message: earlier, participantIds: [alice, bob] },
        ];
        const once = await store.appendBatch(entries);
        assert.deepEqual(once.map((r) => [r.message.messageId, r.created]), [
          [entries[0].message.messageId, true],
          [earlier.messageId, false],
          [earlier.messageId, false],
        ]);
        assert.deepEqual(once[1]?.message, earlier);
        const twice = await store.appendBatch(entries);
        assert.deepEqual(twice, once.map((r) => ({ ...r, created: false })));
        assert.deepEqual(ids(await store.listMessages({ conversationId: conv, limit: 10 })), [entries[0].message.messageId, earlier.messageId]);
        assert.deepEqual(await store.appendBatch([]), []);
      }));

    it('rejects a batch with an id it cannot store before writing any of it', () =>
      withStore(async (store) => {
        const n = names();
        const conv = n.group();
        const good = message(conv, snowflake(6_000), n.user('alice'));
        await assert.rejects(
          store.appendBatch([
            { message: good, participantIds: [n.user('alice')] },
            { message: { ...good, messageId: (1n << 63n).toString(), clientMsgId: 'too-big' }, participantIds: [] },
          ]),
          RangeError,
        );
        assert.deepEqual(await store.listMessages({ conversationId: conv, limit: 5 }), { messages: [], hasMore: false });
        assert.equal(await store.hasConversation(n.user('alice'), conv), false);
      }));

    it('keeps the newest device cursor per conversation, per device', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, a, b] = [n.user('alice'), 'phone', 'laptop'];
        assert.deepEqual(await store.loadDeviceCursors(alice, a), new Map());
        const big = snowflake(2 ** 41 - 1, 1023, 4095); // the largest Snowflake
        await store.saveDeviceCursors(alice, a, new Map([['c1', 50n], ['c2', 10n], ['c3', big]]));
        await store.saveDeviceCursors(alice, a, new Map([['c1', 40n], ['c2', 20n], ['c4', 5n]]));
        await store.saveDeviceCursors(alice, b, new Map([['c1', 1n]]));
        await store.saveDeviceCursors(alice, a, new Map());
        assert.deepEqual(await store.loadDeviceCursors(alice, a), new Map([['c1', 50n], ['c2', 20n], ['c3', big], ['c4', 5n]]));
        assert.deepEqual(await store.loadDeviceCursors(alice, b), new Map([['c1', 1n]]));
        assert.deepEqual(await store.loadDeviceCursors(n.user('bob'), a), new Map());
      }));
  });
}

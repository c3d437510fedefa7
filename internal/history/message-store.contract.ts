import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { MESSAGE_BUCKET_MS, bucketOf } from './bucket';
import { laterCursor, type DeviceCursor, type MessagePage, type MessageStore } from './message-store';

/** A store under test and how to dispose of it (close, drop the temp file or keyspace). */
export interface MessageStoreHarness {
  store: MessageStore;
  cleanup: () => Promise<void>;
}

/** What the contract needs to know of an adapter. */
export interface MessageStoreAdapter {
  /**
   * Whether `append` numbers a message that comes with seq 0 (the store is its conversations'
   * sequencer: SQLite, in `chatd`), or stores it unnumbered (Cassandra).
   */
  sequencer: boolean;
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

/** The epoch of the messages the tests number themselves (as the mesh's sequencer would). */
const TEST_EPOCH = snowflake(1, 1, 1).toString();

/**
 * A message as a sequencer upstream numbered it (a seq other than 0, so no store numbers it
 * again): every test but the numbering ones sees its seq and epoch come back unchanged.
 */
function message(conversationId: string, id: bigint, senderId: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    messageId: id.toString(),
    conversationId,
    senderId,
    clientMsgId: `c-${id}`,
    text: `text ${id}`,
    createdAt: new Date(EPOCH_MS + Number(id >> 22n)),
    seq: ((id >> 12n) + 1n).toString(),
    epoch: TEST_EPOCH,
    ...extra,
  };
}

const hint = (messageId: bigint): DeviceCursor => ({ messageId, exact: false });
const exact = (messageId: bigint): DeviceCursor => ({ messageId, exact: true });
/** A message's position, to compare in one assertion. */
const position = (m: ChatMessage | undefined): [string, string, string] | undefined => m && [m.messageId, m.seq, m.epoch];

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
export function messageStoreContract(name: string, factory: () => Promise<MessageStoreHarness>, adapter: MessageStoreAdapter): void {
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

    it('keeps the seq and epoch a message comes with, through every write and read', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, bob] = [n.user('alice'), n.user('bob')];
        const conv = n.group();
        const max = ((1n << 63n) - 1n).toString();
        const viaAppend = message(conv, snowflake(8_000), alice, { clientMsgId: 'p-1', seq: '41', epoch: snowflake(7_000).toString() });
        const viaBatch = message(conv, snowflake(8_001), bob, { clientMsgId: 'p-2', seq: max, epoch: max });
        const unnumbered = message(conv, snowflake(8_002), bob, { clientMsgId: 'p-3', seq: '0', epoch: '0' });
        assert.deepEqual(await store.append(viaAppend, [alice, bob]), { message: viaAppend, created: true });
        // appendBatch numbers nothing, in any store: a batch's seq 0 stays 0.
        assert.deepEqual(await store.appendBatch([{ message: viaBatch, participantIds: [alice, bob] }, { message: unnumbered, participantIds: [alice, bob] }]), [
          { message: viaBatch, created: true },
          { message: unnumbered, created: true },
        ]);
        assert.deepEqual((await store.listMessages({ conversationId: conv, limit: 10 })).messages, [unnumbered, viaBatch, viaAppend]);
        assert.deepEqual((await store.listMessages({ conversationId: conv, afterId: 0n, limit: 2 })).messages, [viaAppend, viaBatch]);
        assert.deepEqual((await store.listMessages({ conversationId: conv, beforeId: snowflake(8_002), limit: 1 })).messages, [viaBatch]);
        for (const m of [viaAppend, viaBatch, unnumbered]) assert.deepEqual(await store.findByClientMsgId(m.senderId, m.clientMsgId), m);
        assert.deepEqual((await store.listConversations(bob, 5)).conversations.map((c) => c.lastMessage), [unnumbered]);

        // A retried send, by either path, gets the original with its numbers; a new seq does not stick.
        const retry = message(conv, snowflake(8_003), alice, { clientMsgId: 'p-1', seq: '0', epoch: '0' });
        assert.deepEqual(await store.append(retry, [alice, bob]), { message: viaAppend, created: false });
        assert.deepEqual(await store.append({ ...viaBatch, seq: '5' }, [alice, bob]), { message: viaBatch, created: false });
        assert.deepEqual(await store.appendBatch([{ message: { ...retry, seq: '42' }, participantIds: [alice, bob] }]), [{ message: viaAppend, created: false }]);
        const newest = message(conv, snowflake(8_004), alice, { clientMsgId: 'p-4', seq: '43', epoch: viaAppend.epoch });
        await store.append(newest, [alice, bob]);
        assert.deepEqual((await store.listConversations(alice, 5)).conversations.map((c) => c.lastMessage), [newest], 'the conversation list carries the last message whole');

        // What a store cannot hold is refused before anything is written.
        const tooBig = (1n << 63n).toString();
        await assert.rejects(store.append(message(conv, snowflake(8_005), alice, { seq: tooBig }), [alice]), RangeError);
        await assert.rejects(store.appendBatch([{ message: message(conv, snowflake(8_006), alice, { epoch: 'x1' }), participantIds: [alice] }]), RangeError);
        assert.equal((await store.listMessages({ conversationId: conv, limit: 10 })).messages.length, 4);
      }));

    if (adapter.sequencer) {
      it('numbers each unnumbered append: 1, 2, 3 per conversation, in the epoch of its first, no number for a duplicate', () =>
        withStore(async (store) => {
          const n = names();
          const [alice, bob] = [n.user('alice'), n.user('bob')];
          const [a, b, c] = [n.group(), n.group(), n.group()];
          let ms = 9_000;
          const send = (conv: string, extra: Partial<ChatMessage> = {}) => message(conv, snowflake(++ms, 2), alice, { clientMsgId: `s-${ms}`, seq: '0', epoch: '0', ...extra });
          const appended = async (m: ChatMessage) => position((await store.append(m, [alice, bob])).message);
          const a1 = send(a);
          const firstOfB = send(b);
          assert.deepEqual(await appended(a1), [a1.messageId, '1', a1.messageId], 'the epoch is the id of the first numbered message');
          assert.deepEqual(await appended(send(a)), [String(snowflake(ms, 2)), '2', a1.messageId]);
          assert.deepEqual(await appended(firstOfB), [firstOfB.messageId, '1', firstOfB.messageId]);
          const a3 = send(a);
          assert.deepEqual(await appended(a3), [a3.messageId, '3', a1.messageId]);
          // Duplicates, by client key (a retry with a new id) and by id, get the original's numbers, and use none.
          const retry = { ...send(a), clientMsgId: a3.clientMsgId };
          assert.deepEqual(await store.append(retry, [alice, bob]), { message: { ...a3, seq: '3', epoch: a1.messageId }, created: false });
          assert.deepEqual(await appended(a3), [a3.messageId, '3', a1.messageId]);
          const a4 = send(a);
          assert.deepEqual(await appended(a4), [a4.messageId, '4', a1.messageId], 'no hole after duplicates');
          // Appends of one turn are numbered in the order they were made.
          const turn = [send(a), send(b), send(a), send(a), send(b)];
          const results = await Promise.all(turn.map((m) => store.append(m, [alice, bob])));
          assert.deepEqual(results.map((r) => [r.message.seq, r.message.epoch]), [['5', a1.messageId], ['2', firstOfB.messageId], ['6', a1.messageId], ['7', a1.messageId], ['3', firstOfB.messageId]]);
          // A message that comes numbered keeps its numbers; appendBatch numbers nothing and uses no number.
          const numbered = send(c, { seq: '17', epoch: TEST_EPOCH });
          assert.deepEqual(await appended(numbered), [numbered.messageId, '17', TEST_EPOCH]);
          const batched = send(a);
          assert.deepEqual((await store.appendBatch([{ message: batched, participantIds: [alice, bob] }]))[0]?.message, batched);
          const a8 = send(a);
          assert.deepEqual(await appended(a8), [a8.messageId, '8', a1.messageId]);
          // Every read says the same.
          const page = await store.listMessages({ conversationId: a, afterId: 0n, limit: 20 });
          assert.deepEqual(page.messages.map((m) => m.seq), ['1', '2', '3', '4', '5', '6', '7', '0', '8']);
          assert.ok(page.messages.every((m) => m.epoch === (m.seq === '0' ? '0' : a1.messageId)));
          assert.deepEqual(position(await store.findByClientMsgId(alice, a4.clientMsgId)), [a4.messageId, '4', a1.messageId]);
          const list = await store.listConversations(bob, 5);
          assert.deepEqual(list.conversations.map((x) => [x.conversationId, ...(position(x.lastMessage) ?? [])]), [
            [a, a8.messageId, '8', a1.messageId],
            [c, numbered.messageId, '17', TEST_EPOCH],
            [b, turn[4].messageId, '3', firstOfB.messageId],
          ]);
        }));
    } else {
      it('stores an unnumbered append unnumbered: it is no sequencer', () =>
        withStore(async (store) => {
          const n = names();
          const [alice, bob] = [n.user('alice'), n.user('bob')];
          const conv = n.group();
          const sent = [1, 2].map((k) => message(conv, snowflake(9_500 + k), alice, { clientMsgId: `u-${k}`, seq: '0', epoch: '0' }));
          for (const m of sent) assert.deepEqual(await store.append(m, [alice, bob]), { message: m, created: true });
          assert.deepEqual((await store.listMessages({ conversationId: conv, limit: 5 })).messages, [...sent].reverse());
          assert.deepEqual((await store.listConversations(bob, 5)).conversations.map((c) => c.lastMessage), [sent[1]]);
        }));
    }

    it('keeps the newest device cursor per conversation, per device', () =>
      withStore(async (store) => {
        const n = names();
        const [alice, a, b] = [n.user('alice'), 'phone', 'laptop'];
        assert.deepEqual(await store.loadDeviceCursors(alice, a), new Map());
        const big = snowflake(2 ** 41 - 1, 1023, 4095); // the largest Snowflake
        await store.saveDeviceCursors(alice, a, new Map([['c1', hint(50n)], ['c2', hint(10n)], ['c3', hint(big)]]));
        await store.saveDeviceCursors(alice, a, new Map([['c1', hint(40n)], ['c2', hint(20n)], ['c4', hint(5n)]]));
        await store.saveDeviceCursors(alice, b, new Map([['c1', hint(1n)]]));
        await store.saveDeviceCursors(alice, a, new Map());
        assert.deepEqual(await store.loadDeviceCursors(alice, a), new Map([['c1', hint(50n)], ['c2', hint(20n)], ['c3', hint(big)], ['c4', hint(5n)]]));
        assert.deepEqual(await store.loadDeviceCursors(alice, b), new Map([['c1', hint(1n)]]));
        assert.deepEqual(await store.loadDeviceCursors(n.user('bob'), a), new Map());
      }));

    it('keeps an exact cursor over a hint at an equal id, and the greater id whichever it is', () =>
      withStore(async (store) => {
        const n = names();
        const alice = n.user('alice');
        const id = (k: number) => snowflake(k * 1000, 3);
        await store.saveDeviceCursors(alice, 'phone', new Map([['c1', hint(id(50))], ['c2', exact(id(50))], ['c3', exact(id(70))], ['c4', hint(id(10))]]));
        await store.saveDeviceCursors(alice, 'phone', new Map([['c1', exact(id(50))], ['c2', hint(id(50))], ['c3', hint(id(71))], ['c4', exact(id(9))]]));
        await store.saveDeviceCursors(alice, 'phone', new Map([['c1', hint(id(50))], ['c3', exact(id(70))]]));
        assert.deepEqual(await store.loadDeviceCursors(alice, 'phone'), new Map([['c1', exact(id(50))], ['c2', exact(id(50))], ['c3', hint(id(71))], ['c4', hint(id(10))]]));
        await store.saveDeviceCursors(alice, 'laptop', new Map([['c1', exact(0n)]]));
        assert.deepEqual(await store.loadDeviceCursors(alice, 'laptop'), new Map([['c1', exact(0n)]]));
      }));

    it('property: any order of saves keeps what laterCursor keeps', () =>
      withStore(async (store) => {
        // One save: a cursor for some of three conversations, ids close together so they often tie.
        const save = fc.uniqueArray(fc.tuple(fc.constantFrom('c1', 'c2', 'c3'), fc.bigInt({ min: 1n, max: 4n }), fc.boolean()), { selector: ([conv]) => conv, maxLength: 3 });
        await fc.assert(
          fc.asyncProperty(fc.array(save, { minLength: 1, maxLength: 6 }), async (saves) => {
            const user = names().user('p');
            const expected = new Map<string, DeviceCursor>();
            for (const cursors of saves) {
              const saved = new Map(cursors.map(([conv, messageId, isExact]) => [conv, { messageId, exact: isExact }]));
              await store.saveDeviceCursors(user, 'd', saved);
              for (const [conv, c] of saved) expected.set(conv, laterCursor(expected.get(conv), c));
            }
            assert.deepEqual(await store.loadDeviceCursors(user, 'd'), expected);
          }),
          { numRuns: 20 },
        );
      }));
  });
}

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { ErrorCode } from '../../gen/chat/v1/errors';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { dropKeyspace } from '../cassandra/cassandra-migrations';
import { CassandraSession } from '../cassandra/cassandra-session';
import { cassandraTestOptions } from '../cassandra/testing/cassandra-test-options';
import { ChatError } from '../errors/chat-error';
import { uniquePrefix } from '../testing/engines';
import { waitUntil } from '../testing/wait-until';
import { bucketOf } from './bucket';
import { messageStoreContract } from './message-store.contract';
import { CassandraMessageStore, HISTORY_CQL_MIGRATIONS } from './message-store-cassandra';

const { contactPoints, options } = cassandraTestOptions('history');

let session: CassandraSession;
let shared: CassandraMessageStore;
before(async () => {
  session = new CassandraSession(options());
  shared = await CassandraMessageStore.open({ session });
});
after(async () => {
  await dropKeyspace(session);
  await session.close();
});

messageStoreContract('cassandra', () => Promise.resolve({ store: shared, cleanup: () => shared.close() }), { sequencer: false });

const EPOCH_MS = 1767225600000;
const run = uniquePrefix('m');
let seq = 0;
function msg(conversationId: string, id: bigint, extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    messageId: id.toString(),
    conversationId,
    senderId: `alice-${run}`,
    clientMsgId: `c-${run}-${seq++}`,
    text: `text ${id}`,
    createdAt: new Date(EPOCH_MS + Number(id >> 22n)),
    seq: '0',
    epoch: '0',
    ...extra,
  };
}
const hint = (messageId: bigint) => ({ messageId, exact: false });
/** A composite partition key as Cassandra serialises it: per component, a 2-byte length, the bytes, a 0 byte. */
function compositeKey(...parts: string[]): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      const bytes = Buffer.from(p, 'utf8');
      const length = Buffer.alloc(2);
      length.writeUInt16BE(bytes.length);
      return Buffer.concat([length, bytes, Buffer.from([0])]);
    }),
  );
}
const unavailable = (err: unknown) => err instanceof ChatError && err.code === ErrorCode.ERROR_CODE_UNAVAILABLE && err.cause !== undefined;

/**
 * A TCP relay in front of Cassandra, so a test can take the server away from a client (refuse
 * new connections and cut live ones) and give it back on the same port, without touching the
 * shared node.
 */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Refuses new connections and resets every live one, as a crashed server would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function target(): { host: string; port: number } {
  const [host = '127.0.0.1', port = '9042'] = (contactPoints[0] ?? '').split(':');
  return { host, port: Number(port) };
}

describe('CassandraMessageStore on a real Cassandra', () => {
  it('keeps ids above 2^53 exact, up to the largest Snowflake', async () => {
    const conv = `g:${run}-big`;
    const ids = [(1n << 53n) + 1n, (1n << 62n) + 12345n, (1n << 63n) - 1n];
    for (const id of ids) assert.equal((await shared.append(msg(conv, id), [`bob-${run}`])).created, true);
    const page = await shared.listMessages({ conversationId: conv, limit: 10 });
    assert.deepEqual(page.messages.map((m) => m.messageId), ids.map(String).reverse());
    assert.equal((await shared.listConversations(`bob-${run}`, 1)).conversations[0]?.lastMessage?.messageId, String((1n << 63n) - 1n));
    assert.deepEqual(await shared.listMessages({ conversationId: conv, afterId: (1n << 63n) - 1n, limit: 5 }), { messages: [], hasMore: false });
    assert.equal((await shared.listMessages({ conversationId: conv, beforeId: (1n << 64n) - 1n, limit: 5 })).messages.length, 3);
    await assert.rejects(shared.append(msg(conv, 1n << 63n), []), RangeError);
  });

  it('stores one message when two processes race the same client key', async () => {
    const other = new CassandraSession(options());
    const second = await CassandraMessageStore.open({ session: other, ownsSession: true });
    try {
      for (let i = 0; i < 5; i++) {
        const conv = `g:${run}-race-${i}`;
        const a = msg(conv, BigInt(1000 + i) << 22n, { clientMsgId: `race-${run}-${i}` });
        const b = { ...a, messageId: String(BigInt(2000 + i) << 22n) };
        const results = await Promise.all([shared.append(a, ['p']), second.append(b, ['p'])]);
        const ids = new Set(results.map((r) => r.message.messageId));
        assert.equal(ids.size, 1, 'both calls answer with the same message');
        assert.ok(results.some((r) => r.created));
        assert.deepEqual(
          (await shared.listMessages({ conversationId: conv, limit: 10 })).messages.map((m) => m.messageId),
          [...ids],
        );
      }
    } finally {
      await second.close();
    }
  });

  it('finishes a send whose writer died between claiming its client key and writing it', async () => {
    const conv = `dm:${run}-a:${run}-b`;
    const original = msg(conv, 800n << 22n, { clientMsgId: `orphan-${run}`, seq: '12', epoch: String(700n << 22n) });
    // What a crashed writer leaves behind: the claim, and nothing else.
    await session.execute(
      'test claim',
      `INSERT INTO ${session.table('message_by_client_id')} (sender_id, client_msg_id, conversation_id, message_id, body, created_at, seq, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [original.senderId, original.clientMsgId, conv, 800n << 22n, original.text, original.createdAt, 12n, 700n << 22n],
      { idempotent: true },
    );
    assert.equal(await shared.findByClientMsgId(original.senderId, original.clientMsgId), undefined, 'claimed is not stored');
    const retry = { ...original, messageId: String(801n << 22n), text: 'retried', seq: '13' };
    // The retry stores the original (never its own copy, numbers included) and reports it as the one that made it durable.
    assert.deepEqual(await shared.append(retry, [`${run}-a`, `${run}-b`]), { message: original, created: true });
    assert.deepEqual((await shared.listMessages({ conversationId: conv, limit: 5 })).messages, [original]);
    assert.deepEqual((await shared.listConversations(`${run}-b`, 5)).conversations, [{ conversationId: conv, lastMessage: original, unreadCount: 0, readUpToMessageId: '0', othersDeliveredUpToMessageId: '0', othersReadUpToMessageId: '0' }]);
    assert.deepEqual(await shared.append(retry, [`${run}-a`, `${run}-b`]), { message: original, created: false });
  });

  it('derives createdAt from the Snowflake when unset, and stores a cursor of 0', async () => {
    const id = (86_400_000n << 22n) | 5n;
    const { message } = await shared.append({ ...msg(`g:${run}-clock`, id), createdAt: undefined }, []);
    assert.deepEqual(message.createdAt, new Date('2026-01-02T00:00:00Z'));
    await shared.saveDeviceCursors(`z-${run}`, 'd', new Map([['c', hint(0n)]]));
    await shared.saveDeviceCursors(`z-${run}`, 'd', new Map([['c', hint(0n)]]));
    assert.deepEqual(await shared.loadDeviceCursors(`z-${run}`, 'd'), new Map([['c', hint(0n)]]));
    await assert.rejects(shared.saveDeviceCursors(`z-${run}`, 'd', new Map([['c', hint(1n << 63n)]])), RangeError);
  });

  it('reads rows written before positions existed as unnumbered, and their cursors as hints; its migration runs again harmlessly', async () => {
    const conv = `g:${run}-v2`;
    const id = 900_000n << 22n;
    const old = msg(conv, id, { clientMsgId: `v2-${run}` });
    // The rows a version-2 store wrote: none of the version-3 cells.
    const v2 = [
      [`INSERT INTO ${session.table('messages')} (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, [conv, bucketOf(id), id, old.senderId, old.clientMsgId, old.text, old.createdAt]],
      [`INSERT INTO ${session.table('conversation_buckets')} (conversation_id, bucket) VALUES (?, ?)`, [conv, bucketOf(id)]],
      [`INSERT INTO ${session.table('message_by_client_id')} (sender_id, client_msg_id, conversation_id, message_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`, [old.senderId, old.clientMsgId, conv, id, old.text, old.createdAt]],
      [`INSERT INTO ${session.table('conversations')} (conversation_id, last_message_id, last_sender_id, last_client_msg_id, last_body, last_created_at) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`, [conv, id, old.senderId, old.clientMsgId, old.text, old.createdAt, id]],
      [`INSERT INTO ${session.table('user_conversations')} (user_id, conversation_id) VALUES (?, ?)`, [`v2-${run}`, conv]],
      [`INSERT INTO ${session.table('device_cursors')} (user_id, device_id, conversation_id, message_id) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`, [`v2-${run}`, 'phone', conv, id, id]],
    ] as const;
    for (const [query, params] of v2) await session.execute('version-2 row', query, [...params], { idempotent: true });
    assert.deepEqual((await shared.listMessages({ conversationId: conv, limit: 5 })).messages, [old]);
    assert.deepEqual(await shared.findByClientMsgId(old.senderId, old.clientMsgId), old);
    assert.deepEqual((await shared.listConversations(`v2-${run}`, 5)).conversations.map((c) => c.lastMessage), [old]);
    assert.deepEqual(await shared.appendBatch([{ message: { ...old, messageId: String(id + 1n) }, participantIds: [] }]), [{ message: old, created: false }]);
    assert.deepEqual(await shared.loadDeviceCursors(`v2-${run}`, 'phone'), new Map([[conv, hint(id)]]));
    // An exact save at the same id wins over the old hint, as over any hint.
    await shared.saveDeviceCursors(`v2-${run}`, 'phone', new Map([[conv, { messageId: id, exact: true }]]));
    assert.deepEqual(await shared.loadDeviceCursors(`v2-${run}`, 'phone'), new Map([[conv, { messageId: id, exact: true }]]));
    // A runner that died before recording version 3 runs it again.
    for (const statement of HISTORY_CQL_MIGRATIONS[2] ?? []) await session.schema('migrate again', statement.replaceAll('{keyspace}', session.keyspace));
  });

  it('lists a conversation for every member of a large first fan-out', async () => {
    const conv = `g:${run}-fanout`;
    const members = Array.from({ length: 120 }, (_, i) => `fan${i}-${run}`);
    await shared.append(msg(conv, 77n << 22n), members);
    for (const user of [members[0], members[59], members[119]]) {
      assert.equal(await shared.hasConversation(user ?? '', conv), true);
      assert.equal((await shared.listConversations(user ?? '', 5)).conversations[0]?.conversationId, conv);
    }
  });

  it('appends a batch without a lightweight transaction: no Paxos state for its client keys', async () => {
    const conv = `g:${run}-nolwt`;
    const viaAppend = msg(conv, 900n << 22n);
    const viaBatch = msg(conv, 901n << 22n);
    await shared.append(viaAppend, ['u']);
    await shared.appendBatch([{ message: viaBatch, participantIds: ['u'] }]);
    const table = await session.execute(
      'table id',
      'SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
      [session.keyspace, 'message_by_client_id'],
      { idempotent: true },
    );
    const tableId: unknown = table.first()?.get('id');
    // Paxos v1 keeps each key's ballots in system.paxos, keyed by the table's partition key bytes.
    const paxosRows = async (m: ChatMessage) =>
      (await session.execute('paxos state', 'SELECT cf_id FROM system.paxos WHERE row_key = ? AND cf_id = ?', [compositeKey(m.senderId, m.clientMsgId), tableId], { idempotent: true })).rowLength;
    assert.equal(await paxosRows(viaAppend), 1, 'append claims its key with Paxos (so the probe sees LWTs)');
    assert.equal(await paxosRows(viaBatch), 0, 'appendBatch does not');
    assert.deepEqual(await shared.findByClientMsgId(viaBatch.senderId, viaBatch.clientMsgId), viaBatch);
  });

  it('stores a large batch: a hot partition over several unlogged batches, many conversations, a large first fan-out', async () => {
    const store = await CassandraMessageStore.open({ session, writeConcurrency: 4 });
    const hot = `g:${run}-hot`;
    const members = Array.from({ length: 120 }, (_, i) => `wide${i}-${run}`);
    const hotIds = Array.from({ length: 150 }, (_, i) => (BigInt(10_000 + i) << 22n) | 1n);
    const others = Array.from({ length: 40 }, (_, i) => ({ conv: `dm:${run}-x${i}:${run}-y${i}`, id: BigInt(20_000 + i) << 22n }));
    const entries = [
      ...hotIds.map((id) => ({ message: msg(hot, id), participantIds: members })),
      ...others.map(({ conv, id }) => ({ message: msg(conv, id), participantIds: [`${run}-x`, `${run}-y`] })),
    ];
    const results = await store.appendBatch(entries);
    assert.equal(results.filter((r) => r.created).length, entries.length);
    const page = await store.listMessages({ conversationId: hot, limit: 200 });
    assert.deepEqual(page.messages.map((m) => m.messageId), hotIds.map(String).reverse());
    for (const user of [members[0], members[119]]) {
      assert.deepEqual((await store.listConversations(user, 5)).conversations.map((c) => [c.conversationId, c.lastMessage?.messageId]), [[hot, String(hotIds.at(-1))]]);
    }
    const list = await store.listConversations(`${run}-y`, 100);
    assert.equal(list.conversations.length, 40);
    assert.equal(list.conversations[0]?.lastMessage?.messageId, String(others.at(-1)!.id));
  });

  it('stores each message once when two workers append the same batch at once (a rebalance overlap)', async () => {
    const second = await CassandraMessageStore.open({ session: new CassandraSession(options()), ownsSession: true });
    try {
      const conv = `g:${run}-overlap`;
      const entries = Array.from({ length: 20 }, (_, i) => ({ message: msg(conv, BigInt(30_000 + i) << 22n), participantIds: ['p', 'q'] }));
      const [a, b] = await Promise.all([shared.appendBatch(entries), second.appendBatch(entries)]);
      for (const [i, e] of entries.entries()) {
        assert.deepEqual(a[i]?.message, e.message);
        assert.deepEqual(b[i]?.message, e.message);
      }
      assert.deepEqual((await shared.listMessages({ conversationId: conv, limit: 50 })).messages, entries.map((e) => e.message).reverse());
      assert.equal((await shared.listConversations('q', 50)).conversations.find((c) => c.conversationId === conv)?.lastMessage?.messageId, entries.at(-1)?.message.messageId);
    } finally {
      await second.close();
    }
  });

  it('finishes, from a batch, a send whose writer died between claiming its client key and writing it', async () => {
    const conv = `dm:${run}-c:${run}-d`;
    const original = msg(conv, 850n << 22n, { clientMsgId: `orphan-batch-${run}`, seq: '3', epoch: String(840n << 22n) });
    await session.execute(
      'test claim',
      `INSERT INTO ${session.table('message_by_client_id')} (sender_id, client_msg_id, conversation_id, message_id, body, created_at, seq, epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [original.senderId, original.clientMsgId, conv, 850n << 22n, original.text, original.createdAt, 3n, 840n << 22n],
      { idempotent: true },
    );
    const retry = { ...original, messageId: String(851n << 22n), text: 'retried', seq: '4' };
    // The claim answers the batch: the original is stored (never the retry's copy), as a known send.
    assert.deepEqual(await shared.appendBatch([{ message: retry, participantIds: [`${run}-c`, `${run}-d`] }]), [{ message: original, created: false }]);
    assert.deepEqual((await shared.listMessages({ conversationId: conv, limit: 5 })).messages, [original]);
    assert.equal((await shared.listConversations(`${run}-d`, 5)).conversations[0]?.lastMessage?.messageId, original.messageId);
  });

  it('recovers on the same client after Cassandra was unreachable, failing fast meanwhile', async () => {
    const relay = new Relay(target());
    await relay.start();
    const timeouts = { connectTimeoutMs: 1000, requestTimeoutMs: 2000 };
    const store = await CassandraMessageStore.open({
      session: new CassandraSession(options({ contactPoints: [`127.0.0.1:${relay.port}`], ...timeouts, reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 200 })),
      ownsSession: true,
    });
    try {
      const conv = `g:${run}-outage`;
      const first = msg(conv, 500n << 22n);
      await store.append(first, ['u']);

      await relay.cut();
      const calls = [
        () => store.listMessages({ conversationId: conv, limit: 5 }),
        () => store.append(msg(conv, 501n << 22n), ['u']),
        () => store.appendBatch([{ message: msg(conv, 503n << 22n), participantIds: ['u'] }]),
      ];
      for (const call of calls) {
        const started = Date.now();
        await assert.rejects(call(), unavailable);
        const took = Date.now() - started;
        assert.ok(took <= timeouts.connectTimeoutMs + timeouts.requestTimeoutMs + 500, `failed after ${took} ms`);
      }

      await relay.start(); // same port
      await waitUntil(
        () => store.listMessages({ conversationId: conv, limit: 5 }).then(() => true, () => false),
        20_000,
        'the client to reconnect',
      );
      const second = msg(conv, 502n << 22n);
      assert.equal((await store.append(second, ['u'])).created, true);
      assert.deepEqual((await store.listMessages({ conversationId: conv, limit: 5 })).messages, [second, first]);
    } finally {
      await store.close();
      await relay.cut();
    }
  });

  it('reopens on a new client against the same keyspace; a closed client fails UNAVAILABLE', async () => {
    const first = await CassandraMessageStore.open({ session: new CassandraSession(options()), ownsSession: true });
    const conv = `g:${run}-reopen`;
    const sent = msg(conv, 600n << 22n);
    await first.append(sent, ['u', 'v']);
    await first.saveDeviceCursors('v', 'phone', new Map([[conv, { messageId: 600n << 22n, exact: true }]]));
    await first.close();
    await assert.rejects(first.listMessages({ conversationId: conv, limit: 5 }), unavailable);

    const reopened = await CassandraMessageStore.open({ session: new CassandraSession(options()), ownsSession: true });
    try {
      assert.deepEqual((await reopened.listMessages({ conversationId: conv, limit: 5 })).messages, [sent]);
      assert.equal((await reopened.append({ ...sent, messageId: String(601n << 22n) }, ['u', 'v'])).created, false);
      assert.deepEqual(await reopened.loadDeviceCursors('v', 'phone'), new Map([[conv, { messageId: 600n << 22n, exact: true }]]));
    } finally {
      await reopened.close();
    }
  });

  it('fails UNAVAILABLE within its timeouts when no Cassandra answers', async () => {
    const timeouts = { connectTimeoutMs: 500, requestTimeoutMs: 1000 };
    const budget = timeouts.connectTimeoutMs + timeouts.requestTimeoutMs + 500;
    // A port nobody listens on (connection refused) and a server that accepts and never speaks.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const refusedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const accepted = new Set<Socket>();
    const silent = createServer((s) => accepted.add(s.on('error', () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as AddressInfo).port;
    try {
      for (const port of [refusedPort, silentPort]) {
        const dead = new CassandraSession(options({ contactPoints: [`127.0.0.1:${port}`], ...timeouts }));
        const started = Date.now();
        await assert.rejects(CassandraMessageStore.open({ session: dead, ownsSession: true }), unavailable);
        const took = Date.now() - started;
        assert.ok(took <= budget, `port ${port}: failed after ${took} ms, budget ${budget} ms`);
        await dead.close().catch(() => undefined);
      }
    } finally {
      for (const s of accepted) s.destroy();
      silent.close();
    }
  });
});

import type { BoundedSet } from '../cassandra/bounded-set';
import type { BatchStatement, CassandraSession } from '../cassandra/cassandra-session';
import { mapConcurrent } from '../cassandra/map-concurrent';
import { bucketOf } from './bucket';
import type { AppendEntry, AppendResult } from './message-store';
import { bucketKey, claimedMessage, listKey, storedMessage, toChatMessage, type Statements, type StoredMessage } from './message-store-cassandra-cql';

/** Message rows of one partition per unlogged batch at most (one mutation; Cassandra does not size-check those). */
const ROWS_PER_PARTITION_BATCH = 64;

/** What {@link appendBatch} needs from its store. */
export interface BatchAppendDeps {
  session: CassandraSession;
  q: Statements;
  /** The store's write caches: list entries and bucket index rows already written. */
  listed: BoundedSet;
  indexedBuckets: BoundedSet;
  /** Statements in flight at most, for the reads and for the writes. */
  concurrency: number;
}

/** A message to write, with whose lists it goes in, and whether its client key is new. */
interface Write {
  message: StoredMessage;
  participantIds: readonly string[];
  recordKey: boolean;
}

/**
 * `MessageStore.appendBatch` on Cassandra: no lightweight transaction, no logged batch, and no
 * read of the message id. Per batch:
 *
 * 1. Entries are deduplicated in memory: a later entry with the id, or else the client key, of an
 *    earlier one gets the earlier one's message with `created: false` and writes nothing.
 * 2. One plain read of `message_by_client_id` per remaining entry, all concurrently. Without a
 *    Paxos round this is race-free only because nothing else appends that client key meanwhile
 *    (see the port): the log is keyed by conversation, so every copy of a send reaches one
 *    consumer, in log order, one batch after the other. A known key answers `created: false`
 *    with the message it names, which is written again (idempotent: same rows, same content), so
 *    a message whose earlier write failed half way, here or in `append`, is completed.
 * 3. One round of concurrent writes: message rows in single-partition unlogged batches per
 *    (conversation, bucket); one conversation head per conversation, that of its highest id
 *    (`USING TIMESTAMP <id>`, so the newest wins whatever the order); index rows and list entries
 *    not in the caches; the client keys of the new messages (plain inserts).
 *
 * Nothing is atomic across these writes, and nothing needs to be: the batch resolves only once all
 * are written, the caller acknowledges the log only then, and a failed batch is retried whole (the
 * repeat finds the client keys it wrote and writes their messages again). Caches are filled only
 * after the writes succeeded.
 *
 * @throws RangeError before writing anything when an entry's id is not storable.
 */
export async function appendBatch(deps: BatchAppendDeps, entries: readonly AppendEntry[]): Promise<AppendResult[]> {
  const drafts = entries.map((e) => storedMessage(e.message));
  const results = new Array<AppendResult>(entries.length);
  const { firsts, repeats } = dedupe(drafts);

  const known = await mapConcurrent(firsts, deps.concurrency, async (i) => {
    const { senderId, clientMsgId } = drafts[i];
    const found = await deps.session.execute('read client message id', deps.q.clientKeyMessage, [senderId, clientMsgId], { idempotent: true });
    return found.first();
  });
  const writes = new Map<bigint, Write>();
  firsts.forEach((i, n) => {
    const draft = drafts[i];
    const { message, participantIds } = entries[i];
    const row = known[n];
    if (!row) {
      results[i] = { message: { ...message, messageId: draft.id.toString(), createdAt: draft.createdAt, seq: draft.seq.toString(), epoch: draft.epoch.toString() }, created: true };
      writes.set(draft.id, { message: draft, participantIds, recordKey: true });
      return;
    }
    const original = claimedMessage(row, draft);
    results[i] = { message: toChatMessage(original), created: false };
    // This call's participants are the original's unless the client reused its key in another conversation.
    const listed = original.conversationId === draft.conversationId ? participantIds : [original.senderId];
    if (!writes.has(original.id)) writes.set(original.id, { message: original, participantIds: listed, recordKey: false });
  });
  for (const [i, earlier] of repeats) results[i] = { message: results[earlier].message, created: false };

  await write(deps, [...writes.values()]);
  return results;
}

/** The entries to look up (first of their id and client key), and the repeats with the entry they repeat. */
function dedupe(drafts: readonly StoredMessage[]): { firsts: number[]; repeats: Array<[number, number]> } {
  const byId = new Map<bigint, number>();
  const byKey = new Map<string, number>();
  const firsts: number[] = [];
  const repeats: Array<[number, number]> = [];
  drafts.forEach((d, i) => {
    const key = `${d.senderId}\u0000${d.clientMsgId}`;
    const earlier = byId.get(d.id) ?? byKey.get(key);
    if (earlier !== undefined) return void repeats.push([i, earlier]);
    byId.set(d.id, i);
    byKey.set(key, i);
    firsts.push(i);
  });
  return { firsts, repeats };
}

/** Writes the messages, their heads, index rows, list entries and client keys in one concurrent round. */
async function write(deps: BatchAppendDeps, writes: readonly Write[]): Promise<void> {
  if (writes.length === 0) return;
  const { session, q } = deps;
  const rows = new Map<string, BatchStatement[]>();
  const heads = new Map<string, StoredMessage>();
  const buckets = new Map<string, [string, number]>();
  const entries = new Map<string, [string, string]>();
  const keys: BatchStatement[] = [];
  for (const { message: m, participantIds, recordKey } of writes) {
    const bucket = bucketOf(m.id);
    const partition = bucketKey(m.conversationId, bucket);
    const row = { query: q.insertMessage, params: [m.conversationId, bucket, m.id, m.senderId, m.clientMsgId, m.body, m.createdAt, m.seq, m.epoch] };
    const partitionRows = rows.get(partition);
    if (partitionRows) partitionRows.push(row);
    else rows.set(partition, [row]);
    const head = heads.get(m.conversationId);
    if (!head || head.id < m.id) heads.set(m.conversationId, m);
    if (!deps.indexedBuckets.has(partition)) buckets.set(partition, [m.conversationId, bucket]);
    for (const userId of participantIds) {
      const entry = listKey(userId, m.conversationId);
      if (!deps.listed.has(entry)) entries.set(entry, [userId, m.conversationId]);
    }
    if (recordKey) keys.push({ query: q.recordClientKey, params: [m.senderId, m.clientMsgId, m.conversationId, m.id, m.body, m.createdAt, m.seq, m.epoch] });
  }

  const one = (what: string, s: BatchStatement) => () => session.execute(what, s.query, s.params, { idempotent: true });
  const ops: Array<() => Promise<unknown>> = [];
  for (const partitionRows of rows.values()) {
    for (let i = 0; i < partitionRows.length; i += ROWS_PER_PARTITION_BATCH) {
      const chunk = partitionRows.slice(i, i + ROWS_PER_PARTITION_BATCH);
      ops.push(chunk.length === 1 ? one('append message', chunk[0]) : () => session.batch('append messages', chunk, { logged: false, idempotent: true }));
    }
  }
  for (const m of heads.values()) {
    ops.push(one('advance conversation', { query: q.advanceConversation, params: [m.conversationId, m.id, m.senderId, m.clientMsgId, m.body, m.createdAt, m.seq, m.epoch, m.id] }));
  }
  for (const params of buckets.values()) ops.push(one('add bucket', { query: q.addBucket, params }));
  for (const params of entries.values()) ops.push(one('add to conversation list', { query: q.addUserConversation, params }));
  for (const key of keys) ops.push(one('record client message id', key));
  await mapConcurrent(ops, deps.concurrency, (op) => op());

  for (const partition of buckets.keys()) deps.indexedBuckets.add(partition);
  for (const entry of entries.keys()) deps.listed.add(entry);
}

import type { SqliteDatabase, SqliteStatement as Stmt } from '../sqlite/sqlite-database';
import { bucketOf } from './bucket';
import { ListedParticipants } from './listed-participants';

/** Conversations whose listed participants the writer remembers (see ListedParticipants). */
const LISTED_CONVERSATIONS = 100_000;

export const MESSAGE_COLUMNS = 'm.message_id, m.conversation_id, m.sender_id, m.client_msg_id, m.body, m.created_at, m.seq, m.epoch';

/** A row of MESSAGE_COLUMNS, read raw (as an array): a page of 50 objects cost a third of its read. */
export type MessageRow = [messageId: bigint, conversationId: string, senderId: string, clientMsgId: string, body: string, createdAtMs: bigint, seq: bigint, epoch: bigint];

/**
 * One write of the history store, in the shape it crosses to the writer thread: flat tuples of
 * strings and bigints clone several times faster than ChatMessage objects with their Date.
 * An append's `sequence` asks the writer to number the message (see SqliteHistoryWriter.append);
 * otherwise `seq` and `epoch` are stored as given.
 */
export type WriteOp =
  | [
      kind: 'append',
      conversationId: string,
      id: bigint,
      senderId: string,
      clientMsgId: string,
      text: string,
      createdAtMs: number,
      participantIds: readonly string[],
      seq: bigint,
      epoch: bigint,
      sequence: boolean,
    ]
  | [kind: 'cursors', userId: string, deviceId: string, cursors: ReadonlyArray<readonly [conversationId: string, messageId: bigint, exact: boolean]>];

/** A new message the writer numbered: the seq and epoch it was stored with. */
export interface Numbered {
  seq: bigint;
  epoch: bigint;
}

/** An append to number that wrote nothing: its id is not above `behind`, the newest id of its conversation. */
export interface Behind {
  behind: bigint;
}

/**
 * What one WriteOp did: `null` when it wrote as given (a new message, or saved cursors), the
 * numbers it gave a new message it numbered, the stored row when an append was a duplicate (the
 * original message of a retried send, or a redelivered id), an append to number whose id was
 * behind (nothing written), or the message of the error that failed it (an Error does not cross
 * threads intact; its message does).
 */
export type WriteResult = null | Numbered | Behind | MessageRow | { error: string };

/** Whether a write stored what it was given (not a duplicate, not a failure). */
export function wrote(result: WriteResult): result is null | Numbered {
  return result === null || (!Array.isArray(result) && 'seq' in result);
}

/**
 * The write side of SqliteMessageStore on one connection: the event loop's (inline) or the writer
 * thread's own. Every call of {@link run} is one IMMEDIATE transaction and one commit (one fsync
 * with synchronous=FULL) for all of its writes, each of which succeeds or fails alone.
 */
export class SqliteHistoryWriter {
  private readonly byClientKey: Stmt<[string, string], MessageRow>;
  private readonly byId: Stmt<[string, bigint], MessageRow>;
  private readonly insertMessage: Stmt<[string, number, bigint, string, string, string, number, bigint, bigint]>;
  private readonly insertClientKey: Stmt<[string, string, string, bigint]>;
  private readonly advanceConversation: Stmt<[string, bigint]>;
  private readonly sequencer: Stmt<[string], { last_message_id: bigint; last_seq: bigint; seq_epoch: bigint }>;
  private readonly advanceNumbered: Stmt<[string, bigint, bigint, bigint]>;
  private readonly addUserConversation: Stmt<[string, string]>;
  private readonly upsertCursor: Stmt<[string, string, string, bigint, number]>;
  private readonly listed = new ListedParticipants(LISTED_CONVERSATIONS);
  private readonly allOrNothing: { immediate(ops: readonly WriteOp[]): WriteResult[] };
  private readonly eachAlone: { immediate(ops: readonly WriteOp[]): WriteResult[] };

  constructor(db: SqliteDatabase) {
    const messageReader = <P extends unknown[]>(sql: string): Stmt<P, MessageRow> => db.prepare<P, MessageRow>(sql).safeIntegers(true).raw(true);
    const writer = <P extends unknown[]>(sql: string): Stmt<P> => db.prepare<P>(sql);
    this.byClientKey = messageReader(`SELECT ${MESSAGE_COLUMNS} FROM message_by_client_id k
      CROSS JOIN messages m ON m.conversation_id = k.conversation_id AND m.message_id = k.message_id
      WHERE k.sender_id = ? AND k.client_msg_id = ?`);
    this.byId = messageReader(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ? AND m.message_id = ?`);
    this.insertMessage = writer(`INSERT INTO messages
      (conversation_id, bucket, message_id, sender_id, client_msg_id, body, created_at, seq, epoch)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
    this.insertClientKey = writer(
      'INSERT INTO message_by_client_id (sender_id, client_msg_id, conversation_id, message_id) VALUES (?, ?, ?, ?)',
    );
    this.advanceConversation = writer(`INSERT INTO conversations (conversation_id, last_message_id) VALUES (?, ?)
      ON CONFLICT (conversation_id) DO UPDATE SET last_message_id = max(last_message_id, excluded.last_message_id)`);
    this.sequencer = db.prepare<[string], { last_message_id: bigint; last_seq: bigint; seq_epoch: bigint }>(
      'SELECT last_message_id, last_seq, seq_epoch FROM conversations WHERE conversation_id = ?',
    ).safeIntegers(true);
    // Only for a message above every id of its conversation, so last_message_id is simply its id.
    this.advanceNumbered = writer(`INSERT INTO conversations (conversation_id, last_message_id, last_seq, seq_epoch) VALUES (?, ?, ?, ?)
      ON CONFLICT (conversation_id) DO UPDATE SET last_message_id = excluded.last_message_id, last_seq = excluded.last_seq, seq_epoch = excluded.seq_epoch`);
    this.addUserConversation = writer(
      'INSERT INTO user_conversations (user_id, conversation_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
    );
    // The keep-rule of laterCursor: the greater id, and at an equal id exact over a hint.
    this.upsertCursor = writer(`INSERT INTO device_cursors (user_id, device_id, conversation_id, message_id, exact)
      VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, device_id, conversation_id)
      DO UPDATE SET message_id = excluded.message_id, exact = excluded.exact
      WHERE excluded.message_id > message_id OR (excluded.message_id = message_id AND excluded.exact > exact)`);

    // IMMEDIATE takes the write lock up front, so the idempotency check and the inserts see one
    // state even when another connection shares the file (a deferred read-then-write can fail BUSY).
    // Most batches have no failing write, and a savepoint costs two statements per write: a batch
    // runs without them first, and only one that throws (rolled back whole) runs again with a
    // savepoint per write (a transaction called inside another is a savepoint), so one failure
    // rolls back only its own write.
    this.allOrNothing = db.transaction((ops: readonly WriteOp[]) => ops.map((op) => this.write(op)));
    const one = db.transaction((op: WriteOp) => this.write(op));
    this.eachAlone = db.transaction((ops: readonly WriteOp[]) =>
      ops.map((op): WriteResult => {
        try {
          return one(op);
        } catch (err) {
          return { error: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  }

  /**
   * Runs `ops` in order in one transaction and commits it; results[i] is what ops[i] did. Throws
   * only when the commit itself fails, and then nothing of the batch is stored.
   */
  run(ops: readonly WriteOp[]): WriteResult[] {
    let results: WriteResult[];
    try {
      results = this.allOrNothing.immediate(ops);
    } catch {
      results = this.eachAlone.immediate(ops);
    }
    // Only now are the rows committed: the cache may say so.
    ops.forEach((op, i) => {
      if (op[0] === 'append' && wrote(results[i])) this.listed.committed(op[1], op[7]);
    });
    return results;
  }

  private write(op: WriteOp): WriteResult {
    if (op[0] === 'cursors') {
      const [, userId, deviceId, cursors] = op;
      for (const [conversationId, messageId, exact] of cursors) this.upsertCursor.run(userId, deviceId, conversationId, messageId, exact ? 1 : 0);
      return null;
    }
    return this.append(op);
  }

  /**
   * The body of an append. A known client key wins over everything: the retried send gets the
   * original message and nothing is written. A known message id (a redelivered log record)
   * likewise writes nothing. Otherwise: the message, its client key, the conversation's last
   * message id (kept at the maximum: appends can arrive out of id order) and one
   * INSERT-OR-NOTHING per participant not known to be listed, so a member who joined later gets
   * the conversation listed.
   *
   * With `sequence` (an `append` of a message with seq 0) this is the conversation's sequencer:
   * the message gets the conversation's next seq, in the epoch its numbering started in (the id
   * of its first numbered message). The counter lives on the conversation's row of
   * `conversations`, read and written in this transaction, so numbers follow commit order (a
   * batch's order within a commit), a duplicate gets none, and an append that fails or rolls
   * back takes its number with it: no hole. Only a message above every id stored in its
   * conversation is numbered, so that within an epoch a greater seq always has a greater id and
   * "every message after id X" stays exact: one that is not (a clock behind the conversation's
   * newest message, after a restart) writes nothing and answers {@link Behind}, and the send
   * path retries it with a newer id (IdBehind).
   *
   * Looking the client key up first measured faster than claiming it with an INSERT ... ON
   * CONFLICT DO NOTHING and reading the original only on a conflict (29 against 33 µs of CPU per
   * append, batches of 20): the lookup stays.
   */
  private append(op: Extract<WriteOp, ['append', ...unknown[]]>): WriteResult {
    const [, conversationId, id, senderId, clientMsgId, text, createdAtMs, participantIds] = op;
    const original = this.byClientKey.get(senderId, clientMsgId);
    if (original) return original;
    let [seq, epoch] = [op[8], op[9]];
    const numbered = op[10];
    if (numbered) {
      const head = this.sequencer.get(conversationId);
      // A known id (a retry of the same draft) is a duplicate wherever it stands.
      if (head && id <= head.last_message_id) return this.byId.get(conversationId, id) ?? { behind: head.last_message_id };
      seq = (head?.last_seq ?? 0n) + 1n;
      epoch = head && head.last_seq > 0n ? head.seq_epoch : id;
    }
    const inserted = this.insertMessage.run(conversationId, bucketOf(id), id, senderId, clientMsgId, text, createdAtMs, seq, epoch);
    if (inserted.changes === 0) {
      const stored = this.byId.get(conversationId, id);
      if (!stored) throw new Error(`message ${id} conflicts but is not stored in ${conversationId}`);
      return stored;
    }
    this.insertClientKey.run(senderId, clientMsgId, conversationId, id);
    if (numbered) this.advanceNumbered.run(conversationId, id, seq, epoch);
    else this.advanceConversation.run(conversationId, id);
    for (const userId of this.listed.missing(conversationId, participantIds)) this.addUserConversation.run(userId, conversationId);
    return numbered ? { seq, epoch } : null;
  }
}

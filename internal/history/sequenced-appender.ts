import type { ChatMessage } from '../../gen/chat/v1/message';
import { IdBehind } from '../snowflake/id-behind';
import type { AppendResult, MessageAppender, MessageStore } from './message-store';

interface Numbering {
  seq: bigint;
  epoch: string;
  newestId: bigint;
}

/** Conversations whose numbering is kept in memory; past it the oldest are read again from the store. */
const DEFAULT_KEPT = 100_000;

/**
 * The sequencer of a store that does not number (Cassandra's `append`), for a process that is the
 * only appender of its conversations: `chatd` with CHAT_STORE=cassandra. The appends of one
 * conversation run one at a time; each new message gets the next seq of its conversation, which
 * continues from the newest message the store holds (read the first time a conversation is seen,
 * then kept). Within an epoch ids grow with seq: a message whose id is not above the newest is
 * refused with {@link IdBehind}, and the send retries it with a newer id.
 *
 * A duplicate (a known client key) gets the original's numbers from the store and takes none. An
 * append that fails still uses its number: it may have been claimed before failing, and its retry
 * then finishes it with that number; at worst the number is a hole, which clients skip once it
 * is old (docs/GUARANTEES.md "Resume").
 */
export class SequencedAppender implements MessageAppender {
  private readonly numbering = new Map<string, Numbering>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Pick<MessageStore, 'append' | 'listMessages'>,
    private readonly kept = DEFAULT_KEPT,
  ) {}

  append(message: ChatMessage, participantIds: readonly string[]): Promise<AppendResult> {
    if (message.seq !== '0' && message.seq !== '') return this.store.append(message, participantIds);
    const conversationId = message.conversationId;
    const run = (this.queues.get(conversationId) ?? Promise.resolve()).then(() => this.number(message, participantIds));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(conversationId, settled);
    void settled.then(() => {
      if (this.queues.get(conversationId) === settled) this.queues.delete(conversationId);
    });
    return run;
  }

  private async number(message: ChatMessage, participantIds: readonly string[]): Promise<AppendResult> {
    const n = this.numbering.get(message.conversationId) ?? (await this.read(message.conversationId));
    const id = BigInt(message.messageId);
    if (id <= n.newestId) throw new IdBehind(n.newestId);
    const seq = n.seq + 1n;
    const numbered: ChatMessage = { ...message, seq: seq.toString(), epoch: n.seq === 0n ? message.messageId : n.epoch };
    const advance = () => this.keep(message.conversationId, { seq, epoch: numbered.epoch, newestId: id });
    let result: AppendResult;
    try {
      result = await this.store.append(numbered, participantIds);
    } catch (err) {
      advance();
      throw err;
    }
    if (result.message.messageId === numbered.messageId) advance();
    return result;
  }

  /** The conversation's newest stored message: its numbers, or a fresh start (none, or unnumbered). */
  private async read(conversationId: string): Promise<Numbering> {
    const [newest] = (await this.store.listMessages({ conversationId, limit: 1 })).messages;
    const seq = newest ? BigInt(newest.seq || '0') : 0n;
    const n = { seq, epoch: seq > 0n ? newest.epoch : '0', newestId: newest ? BigInt(newest.messageId) : 0n };
    this.keep(conversationId, n);
    return n;
  }

  private keep(conversationId: string, n: Numbering): void {
    this.numbering.delete(conversationId);
    this.numbering.set(conversationId, n);
    if (this.numbering.size > this.kept) this.numbering.delete(this.numbering.keys().next().value as string);
  }
}

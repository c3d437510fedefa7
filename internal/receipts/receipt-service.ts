import { ReceiptKind } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import type { ConversationAccess } from '../chat/conversation-access';
import { parseConversationId } from '../conversation/conversation-id';
import type { EphemeralPublisher } from '../ephemeral/ephemeral-publisher';
import { ChatError } from '../errors/chat-error';
import type { MessageStore } from '../history/message-store';
import { HISTORY_WRITTEN_BEFORE_ACK, type HistoryCatchUp } from '../messagelog/history-catch-up';
import { MAX_STORABLE_ID } from '../snowflake/storable-id';
import type { ReceiptStore } from './receipt-store';

/** The message reads receipts need: the store in `chatd`, the HistoryService client in the mesh. */
export type ReceiptMessageReader = Pick<MessageStore, 'listMessages'>;

/** A user's DELIVERED watermark in one conversation: the newest id any of its devices acknowledged. */
export interface DeliveredUpTo {
  conversationId: string;
  userId: string;
  messageId: bigint;
}

export interface ReceiptServiceOptions {
  store: ReceiptStore;
  messages: ReceiptMessageReader;
  access: ConversationAccess;
  ephemeral: EphemeralPublisher;
  /**
   * In the mesh a message is pushed once the log has it and reaches history a little later (the
   * sync worker's batch): a device that reads a message it was just pushed may find history
   * behind. `read` then waits for the sync worker, at most `historyWaitMs`, before answering
   * NOT_FOUND. Default: history is written before the ack (chatd).
   */
  historyCatchUp?: HistoryCatchUp;
  historyWaitMs?: number;
}

/**
 * Delivered and read receipts as per-user watermarks: stored in the ReceiptStore, pushed to the
 * devices that should see them wherever they are connected (EphemeralPublisher), and folded into
 * the conversation list as unread counts by ReceiptSummaries (receipt-summaries.ts). In a DM both
 * participants' devices get each `receipt`; in a group a member's READ goes to its own devices as
 * a `receipt` and to every member as one `receipt_summary` (how many have read that message), and
 * DELIVERED is only stored.
 */
export class ReceiptService {
  constructor(private readonly opts: ReceiptServiceOptions) {}

  /**
   * Marks the conversation read up to `messageId` (a decimal id) for `reader`. Throws
   * INVALID_ARGUMENT, PERMISSION_DENIED (not a participant) or NOT_FOUND (no such message).
   */
  async read(reader: Principal, conversationId: string, messageId: string, originSessionId: string): Promise<void> {
    const id = parseMessageId(messageId);
    const participants = await this.opts.access.participants(reader, conversationId);
    const found = await this.findMessage(conversationId, id);
    if (!found) throw ChatError.notFound(`no message ${messageId} in ${conversationId}`);
    if (!(await this.opts.store.advance(conversationId, reader.id, ReceiptKind.RECEIPT_KIND_READ, id))) return;

    const receipt = { conversationId, userId: reader.id, kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: messageId };
    if (parseConversationId(conversationId).kind === 'dm') {
      await this.opts.ephemeral.publish(conversationId, { recipientIds: participants, excludeSessionId: originSessionId, event: { $case: 'receipt', value: receipt } });
      return;
    }
    await this.opts.ephemeral.publish(conversationId, { recipientIds: [reader.id], excludeSessionId: originSessionId, event: { $case: 'receipt', value: receipt } });
    const marks = await this.opts.store.conversation(conversationId);
    const others = participants.filter((u) => u !== found.senderId);
    const count = others.filter((u) => (marks.get(u)?.read ?? 0n) >= id).length;
    await this.opts.ephemeral.publish(conversationId, {
      recipientIds: participants,
      excludeSessionId: '',
      event: { $case: 'receiptSummary', value: { conversationId, kind: ReceiptKind.RECEIPT_KIND_READ, upToMessageId: messageId, count, memberCount: others.length } },
    });
  }

  /** The message `id` of the conversation; when history lacks it, again once history caught up with the log. */
  private async findMessage(conversationId: string, id: bigint) {
    const read = async () => {
      const m = (await this.opts.messages.listMessages({ conversationId, afterId: id - 1n, limit: 1 })).messages[0];
      return m?.messageId === id.toString() ? m : undefined;
    };
    const catchUp = this.opts.historyCatchUp ?? HISTORY_WRITTEN_BEFORE_ACK;
    return (await read()) ?? ((await catchUp.waitForHistory(this.opts.historyWaitMs ?? 0)) ? read() : undefined);
  }

  /**
   * Advances DELIVERED watermarks to what devices acknowledged (the gateway passes only messages
   * it delivered to them, so no access check is repeated here): every entry in one store call, then
   * a `receipt` to both parties of each DM whose watermark moved: one EphemeralEvent per moved
   * watermark, all published together, so the relay batches those bound for one server. In a
   * group DELIVERED is only stored. Rejects when the store call fails (nothing is published) or
   * when a publish fails (the others still go out).
   */
  async deliveredBatch(upTo: readonly DeliveredUpTo[]): Promise<void> {
    if (upTo.length === 0) return;
    const moved = await this.opts.store.advanceMany(upTo.map(({ conversationId, userId, messageId }) => ({ conversationId, userId, kind: ReceiptKind.RECEIPT_KIND_DELIVERED, messageId })));
    const publishes: Promise<void>[] = [];
    upTo.forEach(({ conversationId, userId, messageId }, i) => {
      if (!moved[i]) return;
      const ref = parseConversationId(conversationId);
      if (ref.kind !== 'dm') return;
      publishes.push(
        this.opts.ephemeral.publish(conversationId, {
          recipientIds: [...ref.members],
          excludeSessionId: '',
          event: { $case: 'receipt', value: { conversationId, userId, kind: ReceiptKind.RECEIPT_KIND_DELIVERED, upToMessageId: messageId.toString() } },
        }),
      );
    });
    await Promise.all(publishes);
  }
}

function parseMessageId(value: string): bigint {
  if (!/^[0-9]{1,20}$/.test(value) || BigInt(value) < 1n || BigInt(value) > MAX_STORABLE_ID) {
    throw ChatError.invalidArgument(`message_id must be a message id, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  return BigInt(value);
}

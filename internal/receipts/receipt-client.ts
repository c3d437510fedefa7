import type { HistoryServiceDefinition, Watermarks as WireWatermarks } from '../../gen/chat/v1/history';
import type { RpcClient } from '../rpc/grpc-client';
import { assertStorableId } from '../snowflake/storable-id';
import type { ReceiptAdvance, ReceiptStore, StoredReceiptKind, Watermarks } from './receipt-store';

/**
 * A chat server's receipt watermarks, kept by the history service (service credentials). Ids are
 * checked here as the stores check them (a RangeError, before any call), so the port behaves the
 * same through the service.
 */
export class ReceiptClient implements ReceiptStore {
  constructor(private readonly rpc: RpcClient<typeof HistoryServiceDefinition>) {}

  async advance(conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint): Promise<boolean> {
    assertStorableId(messageId, 'receipt watermark');
    return (await this.rpc.call('advanceReceipt', { conversationId, userId, kind, messageId: messageId.toString() })).advanced;
  }

  /** One AdvanceReceipts call; the caller bounds the batch (CHAT_ACK_MAX_BATCH). */
  async advanceMany(entries: readonly ReceiptAdvance[]): Promise<boolean[]> {
    for (const e of entries) assertStorableId(e.messageId, 'receipt watermark');
    if (entries.length === 0) return [];
    const receipts = entries.map((e) => ({ conversationId: e.conversationId, userId: e.userId, kind: e.kind, messageId: e.messageId.toString() }));
    const { advanced } = await this.rpc.call('advanceReceipts', { receipts });
    if (advanced.length !== entries.length) throw new Error(`AdvanceReceipts answered ${advanced.length} flags for ${entries.length} receipts`);
    return advanced;
  }

  async conversation(conversationId: string): Promise<Map<string, Watermarks>> {
    const { watermarks } = await this.rpc.call('getConversationReceipts', { conversationId });
    return new Map(watermarks.map((w) => [w.userId, fromWire(w)]));
  }

  async ofUser(userId: string, conversationIds: readonly string[]): Promise<Map<string, Watermarks>> {
    const { watermarks } = await this.rpc.call('getUserReceipts', { userId, conversationIds: [...conversationIds] });
    return new Map(watermarks.map((w) => [w.conversationId, fromWire(w)]));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function fromWire(w: WireWatermarks): Watermarks {
  return { delivered: BigInt(w.deliveredUpTo), read: BigInt(w.readUpTo) };
}

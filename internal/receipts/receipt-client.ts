import type { HistoryServiceDefinition, Watermarks as WireWatermarks } from '../../gen/chat/v1/history';
import type { RpcClient } from '../rpc/grpc-client';
import type { ReceiptStore, StoredReceiptKind, Watermarks } from './receipt-store';

/** A chat server's receipt watermarks, kept by the history service (service credentials). */
export class ReceiptClient implements ReceiptStore {
  constructor(private readonly rpc: RpcClient<typeof HistoryServiceDefinition>) {}

  async advance(conversationId: string, userId: string, kind: StoredReceiptKind, messageId: bigint): Promise<boolean> {
    return (await this.rpc.call('advanceReceipt', { conversationId, userId, kind, messageId: messageId.toString() })).advanced;
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

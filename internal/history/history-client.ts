import type { HistoryServiceDefinition } from '../../gen/chat/v1/history';
import type { RpcClient } from '../rpc/grpc-client';
import type { ConversationIndex, ConversationPage, DeviceCursorStore, MessagePage, MessageReader, PageQuery } from './message-store';

/**
 * What a chat server reads from history, through the HistoryService (service credentials): pages
 * for the `history` frame and resume, the presence rule's conversation check, device cursors.
 * Access is checked by the caller (the chat server) before it reads.
 */
export class HistoryClient implements MessageReader, ConversationIndex, DeviceCursorStore {
  constructor(private readonly rpc: RpcClient<typeof HistoryServiceDefinition>) {}

  listMessages(q: PageQuery): Promise<MessagePage> {
    return this.rpc.call('listMessages', { conversationId: q.conversationId, beforeId: (q.beforeId ?? 0n).toString(), afterId: (q.afterId ?? 0n).toString(), limit: q.limit });
  }

  listConversations(userId: string, limit: number, beforeMessageId?: bigint): Promise<ConversationPage> {
    return this.rpc.call('listConversations', { userId, limit, beforeMessageId: (beforeMessageId ?? 0n).toString() });
  }

  async hasConversation(userId: string, conversationId: string): Promise<boolean> {
    return (await this.rpc.call('hasConversation', { userId, conversationId })).hasConversation;
  }

  async saveDeviceCursors(userId: string, deviceId: string, cursors: ReadonlyMap<string, bigint>): Promise<void> {
    await this.rpc.call('saveDeviceCursors', { userId, deviceId, cursors: [...cursors].map(([conversationId, id]) => ({ conversationId, messageId: id.toString() })) });
  }

  async loadDeviceCursors(userId: string, deviceId: string): Promise<Map<string, bigint>> {
    const { cursors } = await this.rpc.call('getDeviceCursors', { userId, deviceId });
    return new Map(cursors.map((c) => [c.conversationId, BigInt(c.messageId)]));
  }
}

import type { DeviceCursor as WireCursor, HistoryServiceDefinition } from '../../gen/chat/v1/history';
import { CallBatcher } from '../rpc/call-batcher';
import type { RpcClient } from '../rpc/grpc-client';
import type { ConversationIndex, ConversationPage, DeviceCursor, DeviceCursorStore, MessagePage, MessageReader, PageQuery } from './message-store';

/** Options of {@link HistoryClient}. */
export interface HistoryClientOptions {
  /** Devices per GetDeviceCursorsBatch call at most: CHAT_ACK_MAX_BATCH (its default if unset). */
  maxDevicesPerCall?: number;
}

const DEFAULT_MAX_DEVICES_PER_CALL = 500;

/**
 * What a chat server reads from history, through the HistoryService (service credentials): pages
 * for the `history` frame and resume, the presence rule's conversation check, device cursors.
 * Access is checked by the caller (the chat server) before it reads.
 *
 * Device cursors cost per call, not per device: the loads of one event-loop turn (the hellos of a
 * reconnect storm) travel in one GetDeviceCursorsBatch, and the gateway's AckBatcher saves every
 * device of a flush with one SaveDeviceCursorsBatch.
 */
export class HistoryClient implements MessageReader, ConversationIndex, DeviceCursorStore {
  private readonly loads: CallBatcher<{ userId: string; deviceId: string }, Map<string, DeviceCursor>>;

  constructor(
    private readonly rpc: RpcClient<typeof HistoryServiceDefinition>,
    opts: HistoryClientOptions = {},
  ) {
    this.loads = new CallBatcher(
      async (devices) => {
        const answer = await rpc.call('getDeviceCursorsBatch', { devices });
        if (answer.devices.length !== devices.length) throw new Error(`GetDeviceCursorsBatch answered ${answer.devices.length} devices for ${devices.length}`);
        return answer.devices.map((d) => new Map(d.cursors.map((c) => [c.conversationId, { messageId: BigInt(c.messageId), exact: c.exact }])));
      },
      { windowMs: 0, maxBatch: opts.maxDevicesPerCall ?? DEFAULT_MAX_DEVICES_PER_CALL },
    );
  }

  listMessages(q: PageQuery): Promise<MessagePage> {
    return this.rpc.call('listMessages', { conversationId: q.conversationId, beforeId: (q.beforeId ?? 0n).toString(), afterId: (q.afterId ?? 0n).toString(), limit: q.limit });
  }

  listConversations(userId: string, limit: number, beforeMessageId?: bigint): Promise<ConversationPage> {
    return this.rpc.call('listConversations', { userId, limit, beforeMessageId: (beforeMessageId ?? 0n).toString() });
  }

  async hasConversation(userId: string, conversationId: string): Promise<boolean> {
    return (await this.rpc.call('hasConversation', { userId, conversationId })).hasConversation;
  }

  async saveDeviceCursors(userId: string, deviceId: string, cursors: ReadonlyMap<string, DeviceCursor>): Promise<void> {
    await this.rpc.call('saveDeviceCursors', { userId, deviceId, cursors: toWire(cursors) });
  }

  /** One SaveDeviceCursorsBatch call; the caller bounds the batch (CHAT_ACK_MAX_BATCH). */
  async saveDeviceCursorsBatch(devices: readonly { userId: string; deviceId: string; cursors: ReadonlyMap<string, DeviceCursor> }[]): Promise<void> {
    if (devices.length === 0) return;
    await this.rpc.call('saveDeviceCursorsBatch', {
      devices: devices.map(({ userId, deviceId, cursors }) => ({ userId, deviceId, cursors: toWire(cursors) })),
    });
  }

  loadDeviceCursors(userId: string, deviceId: string): Promise<Map<string, DeviceCursor>> {
    return this.loads.call({ userId, deviceId });
  }
}

function toWire(cursors: ReadonlyMap<string, DeviceCursor>): WireCursor[] {
  return [...cursors].map(([conversationId, c]) => ({ conversationId, messageId: c.messageId.toString(), exact: c.exact }));
}

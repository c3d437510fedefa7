import { ErrorCode } from '../../gen/chat/v1/errors';
import type { HistoryServiceDefinition, ListMessagesRequest, DeviceCursor as WireCursor } from '../../gen/chat/v1/history';
import { ChatError } from '../errors/chat-error';
import { CallBatcher } from '../rpc/call-batcher';
import type { RpcClient } from '../rpc/grpc-client';
import type { ConversationIndex, ConversationPage, DeviceCursor, DeviceCursorStore, MessagePage, MessageReader, PageQuery } from './message-store';

/** Options of {@link HistoryClient}. */
export interface HistoryClientOptions {
  /** Devices per GetDeviceCursorsBatch call at most: CHAT_ACK_MAX_BATCH (its default if unset). */
  maxDevicesPerCall?: number;
  /** Forward pages per ListMessagesBatch call at most: CHAT_HISTORY_BATCH_MAX_PAGES (its default if unset). */
  maxPagesPerCall?: number;
}

const DEFAULT_MAX_DEVICES_PER_CALL = 500;
const DEFAULT_MAX_PAGES_PER_CALL = 100;

/**
 * What a chat server reads from history, through the HistoryService (service credentials): pages
 * for the `history` frame and resume, the presence rule's conversation check, device cursors.
 * Access is checked by the caller (the chat server) before it reads.
 *
 * Device cursors cost per call, not per device: the loads of one event-loop turn (the hellos of a
 * reconnect storm) travel in one GetDeviceCursorsBatch, and the gateway's AckBatcher saves every
 * device of a flush with one SaveDeviceCursorsBatch. Forward pages (resume replays, gap paging) do
 * the same: those of one turn travel in one ListMessagesBatch, each failing alone. Pages from the
 * newest end and backwards (a user scrolling) are one ListMessages each.
 */
export class HistoryClient implements MessageReader, ConversationIndex, DeviceCursorStore {
  private readonly loads: CallBatcher<{ userId: string; deviceId: string }, Map<string, DeviceCursor>>;
  private readonly forwardPages: CallBatcher<PageQuery, MessagePage>;

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
    this.forwardPages = new CallBatcher<PageQuery, MessagePage>(
      async (queries) => {
        const answer = await rpc.call('listMessagesBatch', { pages: queries.map(toWireQuery) });
        if (answer.pages.length !== queries.length) throw new Error(`ListMessagesBatch answered ${answer.pages.length} pages for ${queries.length}`);
        return answer.pages.map((p) => (p.errorCode === ErrorCode.ERROR_CODE_UNSPECIFIED ? { messages: p.messages, hasMore: p.hasMore } : new ChatError(p.errorCode, p.errorMessage)));
      },
      { windowMs: 0, maxBatch: opts.maxPagesPerCall ?? DEFAULT_MAX_PAGES_PER_CALL },
    );
  }

  listMessages(q: PageQuery): Promise<MessagePage> {
    if (q.afterId !== undefined && q.beforeId === undefined) return this.forwardPages.call(q);
    return this.rpc.call('listMessages', toWireQuery(q));
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

function toWireQuery(q: PageQuery): ListMessagesRequest {
  return { conversationId: q.conversationId, beforeId: (q.beforeId ?? 0n).toString(), afterId: (q.afterId ?? 0n).toString(), limit: q.limit };
}

function toWire(cursors: ReadonlyMap<string, DeviceCursor>): WireCursor[] {
  return [...cursors].map(([conversationId, c]) => ({ conversationId, messageId: c.messageId.toString(), exact: c.exact }));
}

import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { MessageLogRecord } from '../../gen/chat/v1/message_log';
import { RelayDelivery } from '../../gen/chat/v1/relay';

/**
 * Bytes of the frames one message costs on each link, computed with this tree's protobuf encoders
 * (gen/chat/v1) for a typical message, not measured: docs/CAPACITY.md turns them into network per
 * tier. The message is the one {@link TYPICAL} describes, with `textBytes` of text.
 */
export interface FrameSizes {
  textBytes: number;
  /** Client → chat server, each a WebSocket frame (masked, as clients send) carrying a ConnectRequest. */
  send: number;
  ack: number;
  heartbeat: number;
  /** Chat server → client, each an unmasked WebSocket frame carrying a ConnectResponse. */
  sendAck: number;
  message: number;
  pong: number;
  /** One delivery inside a RelayBatch (its field tag and length included; the batch's own id and gRPC/HTTP/2 framing, shared by the batch, are not). */
  relayDelivery: number;
  /** The value of the message-log record (MessageLogRecord), before Kafka's record and batch headers. */
  logRecord: number;
}

/** The ids of the typical message: what a deployment at the seed's scale would carry. */
export const TYPICAL = {
  /** 'u' + 9 digits: room for 500M users. */
  sender: 'u000000001',
  recipient: 'u000000002',
  /** A UUID, as clients generate. */
  clientMsgId: '123e4567-e89b-42d3-a456-426614174000',
  /** A Snowflake of 2027 (19 digits: a 9-byte varint). */
  messageId: '7395429185736638464',
  /** With milliseconds, as the server stamps it. */
  createdAt: new Date('2027-03-01T12:34:56.789Z'),
  /** Request ids are empty, as the loadgen and the web client send them for these frames. */
  requestId: '',
  /** Tracing off (the bench runs with CHAT_CLUSTER_TRACES=0): no trace context on the relay or the log. */
  traceContext: {} as Record<string, string>,
} as const;

/** A WebSocket frame's length for `payload` bytes: header 2, + 2 or 8 for the extended length, + 4 for a client's mask. */
export function wsFrameBytes(payload: number, masked: boolean): number {
  const ext = payload <= 125 ? 0 : payload <= 0xffff ? 2 : 8;
  return 2 + ext + (masked ? 4 : 0) + payload;
}

function varintBytes(n: number): number {
  let bytes = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) bytes++;
  return bytes;
}

export function frameSizes(textBytes: number): FrameSizes {
  const t = TYPICAL;
  const conversationId = `dm:${t.sender}:${t.recipient}`;
  const text = 'x'.repeat(textBytes);
  // A conversation some thousands of messages in, its numbering as old as its first message.
  const numbered = { seq: '4321', epoch: t.messageId };
  const message: ChatMessage = { messageId: t.messageId, conversationId, senderId: t.sender, clientMsgId: t.clientMsgId, text, createdAt: t.createdAt, ...numbered };
  const req = (frame: ConnectRequest['frame']) => wsFrameBytes(ConnectRequest.encode({ requestId: t.requestId, frame }).finish().length, true);
  const res = (frame: ConnectResponse['frame']) => wsFrameBytes(ConnectResponse.encode({ requestId: t.requestId, frame }).finish().length, false);
  const delivery = RelayDelivery.encode({ message, recipientUserIds: [t.recipient], excludeSessionId: '', traceContext: t.traceContext }).finish().length;
  return {
    textBytes,
    send: req({ $case: 'send', value: { conversationId, clientMsgId: t.clientMsgId, text } }),
    ack: req({ $case: 'ack', value: { messageIds: [t.messageId], heldThrough: { [conversationId]: t.messageId } } }),
    heartbeat: req({ $case: 'heartbeat', value: {} }),
    sendAck: res({ $case: 'sendAck', value: { clientMsgId: t.clientMsgId, messageId: t.messageId, conversationId, createdAt: t.createdAt, ...numbered } }),
    message: res({ $case: 'message', value: message }),
    pong: res({ $case: 'pong', value: { serverTime: t.createdAt } }),
    relayDelivery: 1 + varintBytes(delivery) + delivery,
    logRecord: MessageLogRecord.encode({ message, participantIds: [t.sender, t.recipient], traceContext: t.traceContext }).finish().length,
  };
}

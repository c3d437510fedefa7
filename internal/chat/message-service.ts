import type { Logger } from 'pino';
import type { Send, SendAck } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import type { Principal } from '../auth/principal';
import { parseConversationId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import type { MessageAppender } from '../history/message-store';
import type { IdSource } from '../snowflake/id-source';
import type { ChatMetrics } from '../telemetry/metrics';
import { withSpan } from '../telemetry/trace-context';
import { setTimeout as delay } from 'node:timers/promises';
import { IdBehind } from '../snowflake/id-behind';
import { decodeSnowflake, snowflakeTime } from '../snowflake/snowflake';
import type { ConversationAccess } from './conversation-access';
import type { Delivery } from './delivery';

export interface MessageLimits {
  maxTextBytes: number;
  /** CHAT_SEND_CLOCK_SKEW_MAX_MS: how long a send whose id is behind its conversation waits for the clock (IdBehind). */
  sendClockSkewMaxMs: number;
}

export interface MessageServiceOptions {
  /** Sends answered, by result. */
  metrics: Pick<ChatMetrics, 'sends' | 'sendsBehind'>;
  /** Where accepted messages go: the store in `chatd`, the Kafka message log in the mesh. */
  appender: MessageAppender;
  access: ConversationAccess;
  ids: IdSource;
  delivery: Delivery;
  limits: MessageLimits;
  log: Logger;
  /** Called once a send is durable, before it is delivered or acknowledged (the test-only fault points hook here). */
  afterAppend?: (message: ChatMessage) => void;
}

const MAX_CLIENT_MSG_ID_BYTES = 128;
/** Tries of a send whose id keeps falling behind its conversation (a hot conversation, clocks apart). */
const MAX_BEHIND_ATTEMPTS = 5;

/**
 * The send path. A send is authorized, given a Snowflake id, appended durably (idempotent by
 * sender and client_msg_id) and only then acknowledged and handed to delivery.
 */
export class MessageService {
  constructor(private readonly opts: MessageServiceOptions) {}

  /** Sends inside a `chat.send` span, so the trace follows the message through log and relay. */
  send(sender: Principal, send: Send, originSessionId?: string): Promise<SendAck> {
    const sent = withSpan('chat.send', () => this.sendTraced(sender, send, originSessionId), { 'chat.conversation_id': send.conversationId, 'chat.sender_id': sender.id });
    sent.then(
      () => this.opts.metrics.sends.inc({ result: 'ok' }),
      () => this.opts.metrics.sends.inc({ result: 'error' }),
    );
    return sent;
  }

  private async sendTraced(sender: Principal, send: Send, originSessionId?: string): Promise<SendAck> {
    this.validateSend(send);
    const participants = await this.opts.access.participants(sender, send.conversationId);
    const { message, created, redeliver } = await this.appendNumbered(sender, send, participants);
    this.opts.afterAppend?.(message);
    if (created || redeliver) this.opts.delivery.deliver(message, participants, originSessionId);
    if (!created) this.opts.log.debug({ clientMsgId: send.clientMsgId, messageId: message.messageId, redeliver }, 'duplicate send answered with the original id');
    return { clientMsgId: message.clientMsgId, messageId: message.messageId, conversationId: message.conversationId, createdAt: message.createdAt, seq: message.seq, epoch: message.epoch };
  }

  /**
   * Appends a draft with a fresh id. Ids grow with seq within a conversation, so when another
   * chat server's clock is ahead and the conversation already holds a newer id (IdBehind), the
   * send waits for this server's clock to pass that id, up to `sendClockSkewMaxMs`, and tries again
   * with a new id; a larger skew fails the send UNAVAILABLE (the client retries it).
   */
  private async appendNumbered(sender: Principal, send: Send, participants: readonly string[]) {
    for (let attempt = 1; ; attempt++) {
      const messageId = this.opts.ids.nextString();
      const draft: ChatMessage = {
        messageId,
        conversationId: send.conversationId,
        senderId: sender.id,
        clientMsgId: send.clientMsgId,
        text: send.text,
        createdAt: snowflakeTime(messageId),
        seq: '0',
        epoch: '0',
      };
      try {
        return await this.opts.appender.append(draft, participants);
      } catch (err) {
        if (!(err instanceof IdBehind)) throw err;
        const waitMs = decodeSnowflake(err.newestId).timestampMs - Date.now() + 1;
        if (waitMs > this.opts.limits.sendClockSkewMaxMs || attempt >= MAX_BEHIND_ATTEMPTS) {
          throw ChatError.unavailable(`this server's clock is ${waitMs} ms behind the conversation's newest message (CHAT_SEND_CLOCK_SKEW_MAX_MS ${this.opts.limits.sendClockSkewMaxMs}); retry the send`);
        }
        this.opts.metrics.sendsBehind.inc();
        if (waitMs > 0) await delay(waitMs);
      }
    }
  }

  private validateSend(send: Send): void {
    parseConversationId(send.conversationId);
    const idBytes = Buffer.byteLength(send.clientMsgId, 'utf8');
    if (idBytes === 0 || idBytes > MAX_CLIENT_MSG_ID_BYTES) {
      throw ChatError.invalidArgument(`client_msg_id must be 1-${MAX_CLIENT_MSG_ID_BYTES} bytes`);
    }
    if (send.text.trim() === '') throw ChatError.invalidArgument('text must not be empty');
    const textBytes = Buffer.byteLength(send.text, 'utf8');
    if (textBytes > this.opts.limits.maxTextBytes) {
      throw ChatError.tooLarge(`text is ${textBytes} bytes; the limit is ${this.opts.limits.maxTextBytes}`);
    }
  }
}

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
import { snowflakeTime } from '../snowflake/snowflake';
import type { ConversationAccess } from './conversation-access';
import type { Delivery } from './delivery';

export interface MessageLimits {
  maxTextBytes: number;
}

export interface MessageServiceOptions {
  /** Sends answered, by result. */
  metrics: Pick<ChatMetrics, 'sends'>;
  /** Where accepted messages go: the store in `chatd`, the Kafka message log in the mesh. */
  appender: MessageAppender;
  access: ConversationAccess;
  ids: IdSource;
  delivery: Delivery;
  limits: MessageLimits;
  log: Logger;
}

const MAX_CLIENT_MSG_ID_BYTES = 128;

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
    const messageId = this.opts.ids.nextString();
    const draft: ChatMessage = {
      messageId,
      conversationId: send.conversationId,
      senderId: sender.id,
      clientMsgId: send.clientMsgId,
      text: send.text,
      createdAt: snowflakeTime(messageId),
    };
    const { message, created, redeliver } = await this.opts.appender.append(draft, participants);
    if (created || redeliver) this.opts.delivery.deliver(message, participants, originSessionId);
    if (!created) this.opts.log.debug({ clientMsgId: send.clientMsgId, messageId: message.messageId, redeliver }, 'duplicate send answered with the original id');
    return { clientMsgId: message.clientMsgId, messageId: message.messageId, conversationId: message.conversationId, createdAt: message.createdAt };
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

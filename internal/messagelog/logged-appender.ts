import type { ChatMessage } from '../../gen/chat/v1/message';
import type { Bus } from '../bus/bus';
import { ChatError } from '../errors/chat-error';
import { IdBehind } from '../snowflake/id-behind';
import type { AppendResult, MessageAppender } from '../history/message-store';
import { injectTraceContext } from '../telemetry/trace-context';
import { encodeLogRecord, MESSAGE_LOG_TOPIC } from './message-log';
import type { SendClaims } from './send-claims';

/**
 * The append of a send in the mesh: claim the client key (which also numbers the message in its
 * conversation, see SendClaims), then append to the Kafka message log. A draft whose id is behind
 * its conversation's newest is refused with {@link IdBehind} before anything is claimed.
 * It resolves only once Kafka acknowledged the record (acks=all), so an acknowledged send
 * survives any process crash; the sync worker writes it to Cassandra afterwards.
 *
 * A retry of a known client key appends the original message again (same id, same text) before
 * answering: if the first attempt's append failed after its claim, the retry is what makes it
 * durable. The extra record is harmless, the sync worker's write being idempotent by id. Such a
 * first attempt was never delivered either, and nothing tells whether it was: the retry is
 * delivered again (`redeliver`), and recipients drop the copy if they had it. Resume alone would
 * not do: a fault that outlasts the resume window (a Kafka broker failing over under a long
 * stall, seen in the HA suite) leaves the message older than the window by the time it is retried.
 */
export class LoggedAppender implements MessageAppender {
  constructor(private readonly opts: { bus: Bus; claims: SendClaims; publishTimeoutMs: number }) {}

  async append(draft: ChatMessage, participantIds: readonly string[]): Promise<AppendResult> {
    const claimed = await this.opts.claims.claim(draft);
    if ('behind' in claimed) throw new IdBehind(claimed.behind);
    const { message } = claimed;
    const payload = encodeLogRecord({ message, participantIds: [...participantIds], traceContext: injectTraceContext() });
    try {
      await this.opts.bus.publish(MESSAGE_LOG_TOPIC, message.conversationId, payload, { timeoutMs: this.opts.publishTimeoutMs });
    } catch (err) {
      throw ChatError.unavailable('the message log did not accept the message; retry the send', err);
    }
    const created = message.messageId === draft.messageId;
    return { message, created, redeliver: !created };
  }
}

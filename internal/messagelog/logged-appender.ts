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
 * Once the log has a message, its claim is marked appended (best effort). A retry of a known
 * client key whose claim is marked is answered with the original at once: nothing is appended or
 * delivered again. A retry of one not marked appends the original message again (same id, same
 * text) before answering: if the first attempt's append failed after its claim, the retry is
 * what makes it durable. The extra record is harmless, the sync worker's write being idempotent
 * by id. Such a first attempt was never delivered either, and nothing tells whether it was: the
 * retry is delivered again (`redeliver`), and recipients drop the copy if they had it: with
 * positions they would get it at their next resume anyway, but live is sooner.
 */
export class LoggedAppender implements MessageAppender {
  constructor(private readonly opts: { bus: Bus; claims: SendClaims; publishTimeoutMs: number }) {}

  async append(draft: ChatMessage, participantIds: readonly string[]): Promise<AppendResult> {
    const claimed = await this.opts.claims.claim(draft);
    if ('behind' in claimed) throw new IdBehind(claimed.behind);
    const { message } = claimed;
    const created = message.messageId === draft.messageId;
    // A retry of a send already in the log is answered as it is: its first attempt was delivered,
    // unless its server died first, and then recipients see the missing seq and fill it.
    if (!created && claimed.appended) return { message, created, redeliver: false };
    const payload = encodeLogRecord({ message, participantIds: [...participantIds], traceContext: injectTraceContext() });
    try {
      await this.opts.bus.publish(MESSAGE_LOG_TOPIC, message.conversationId, payload, { timeoutMs: this.opts.publishTimeoutMs });
    } catch (err) {
      throw ChatError.unavailable('the message log did not accept the message; retry the send', err);
    }
    // Not awaited: a lost note only means a later retry is delivered again.
    this.opts.claims.appended(message).catch(() => undefined);
    return { message, created, redeliver: !created };
  }
}

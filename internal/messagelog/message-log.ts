import { MessageLogRecord } from '../../gen/chat/v1/message_log';

/** The message log topic (message_log.proto), keyed by conversation id. */
export const MESSAGE_LOG_TOPIC = 'chat.messages.v1';

/** The consumer group of the sync worker on the message log. */
export const SYNC_WORKER_GROUP = 'sync-worker';

export function encodeLogRecord(record: MessageLogRecord): Uint8Array {
  return MessageLogRecord.encode(record).finish();
}

export function decodeLogRecord(payload: Uint8Array): MessageLogRecord {
  return MessageLogRecord.decode(payload);
}

import type { ChatMessage } from '../../gen/chat/v1/message';
import { MAX_STORABLE_ID } from '../snowflake/storable-id';

/** A message's place in its conversation (ChatMessage.seq and .epoch); 0 and 0 when unnumbered. */
export interface MessagePosition {
  seq: bigint;
  epoch: bigint;
}

const DECIMAL = /^[0-9]{1,20}$/;

/**
 * The seq and epoch of a message as the stores keep them (SQLite INTEGER, Cassandra bigint: both
 * 0..2^63-1). Unset or "" counts as 0, the proto default (a message built before positions existed).
 * @throws RangeError naming the field when either is not a decimal in that range.
 */
export function messagePosition(message: Pick<ChatMessage, 'seq' | 'epoch'>): MessagePosition {
  return { seq: storablePosition(message.seq, 'seq'), epoch: storablePosition(message.epoch, 'epoch') };
}

function storablePosition(value: string | undefined, field: string): bigint {
  if (value === undefined || value === '') return 0n;
  if (!DECIMAL.test(value)) throw new RangeError(`${field} must be a decimal uint64, got ${JSON.stringify(value.slice(0, 40))}`);
  const n = BigInt(value);
  if (n > MAX_STORABLE_ID) throw new RangeError(`${field} ${value} is outside 0..2^63-1`);
  return n;
}

/**
 * Time buckets of the message tables.
 *
 * Messages are partitioned by (conversation_id, bucket) rather than by conversation alone, the way
 * Discord stores its messages: a conversation that lives for years would otherwise grow one
 * unbounded Cassandra partition (slow compaction, huge repairs, hot nodes). A bucket is a fixed
 * span of Snowflake time, so the bucket of a message follows from its id alone, with no lookup.
 *
 * Why 10 days: long enough that a quiet conversation pages back through few empty buckets, short
 * enough that even a very busy group (say 1 message/s, ~0.9 M rows of up to a few KB) stays well
 * under the ~100 MB partition size Cassandra handles comfortably. Changing it re-partitions every
 * stored message, so it is a constant of the storage format, not a setting.
 *
 * Snowflake layout (most significant bit first): 1 unused sign bit, 41 bits of milliseconds since
 * the custom epoch 2026-01-01T00:00:00Z, 10 bits of worker id, 12 bits of sequence. So
 * `id >> 22n` is the id's milliseconds since that epoch. (Computed here with the shift rather than
 * through the snowflake module: the bucket of a stored row must never change with that code.)
 */

/** The span of Snowflake time one message bucket covers: 10 days, in milliseconds. */
export const MESSAGE_BUCKET_MS = 10 * 24 * 60 * 60 * 1000;

/** Bits below the timestamp in a Snowflake (10 worker + 12 sequence). */
const TIMESTAMP_SHIFT = 22n;
const MAX_U64 = (1n << 64n) - 1n;

/**
 * The bucket of a message id: whole {@link MESSAGE_BUCKET_MS} spans since the Snowflake epoch.
 * Bucket 0 starts at 2026-01-01T00:00:00Z. Throws a RangeError for a value outside uint64.
 */
export function bucketOf(messageId: bigint): number {
  if (messageId < 0n || messageId > MAX_U64) {
    throw new RangeError(`message id ${messageId} is not a uint64`);
  }
  // At most 2^42 ms fits a double exactly, and so does the quotient.
  return Math.floor(Number(messageId >> TIMESTAMP_SHIFT) / MESSAGE_BUCKET_MS);
}

/** The smallest message id that falls in `bucket` (for adapters that walk buckets by id range). */
export function firstIdOfBucket(bucket: number): bigint {
  if (!Number.isSafeInteger(bucket) || bucket < 0) {
    throw new RangeError(`bucket ${bucket} is not a non-negative integer`);
  }
  return (BigInt(bucket) * BigInt(MESSAGE_BUCKET_MS)) << TIMESTAMP_SHIFT;
}

/**
 * Snowflake ids in Cassandra. A CQL `bigint` is a signed 64-bit value; a Snowflake's top bit is an
 * always-zero sign bit, so every real id fits unchanged and `bigint` order is id order. The driver
 * runs with `encoding.useBigIntAsLong`, so ids cross it as JS `bigint`, never as a `number`
 * (which loses precision above 2^53).
 */

/** The largest CQL `bigint`, 2^63 - 1: an upper bound of every stored id. */
export const MAX_CQL_BIGINT = (1n << 63n) - 1n;

const DECIMAL_ID = /^[0-9]{1,20}$/;

/**
 * Parses a decimal id (a message or group Snowflake) for storage. Throws a RangeError naming
 * `field` unless it is a decimal in 1..2^63-1 ("0" is the proto default, i.e. "not set").
 */
export function parseCqlId(value: string, field: string): bigint {
  if (!DECIMAL_ID.test(value)) {
    throw new RangeError(`${field} must be a decimal id, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  const id = BigInt(value);
  if (id < 1n || id > MAX_CQL_BIGINT) throw new RangeError(`${field} ${value} is outside 1..2^63-1`);
  return id;
}

/** Throws a RangeError naming `field` unless `id` is in 0..2^63-1, the values a `bigint` holds. */
export function assertCqlBigint(id: bigint, field: string): bigint {
  if (id < 0n || id > MAX_CQL_BIGINT) throw new RangeError(`${field} ${id} is outside 0..2^63-1`);
  return id;
}

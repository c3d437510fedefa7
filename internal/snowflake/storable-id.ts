/**
 * Ids as the stores keep them. SQLite's INTEGER and Cassandra's bigint are both signed 64-bit,
 * so an id is storable in 0..2^63-1; Snowflakes (41-bit time at the top, under the sign bit)
 * always are. Both stores validate ids at their boundary with these.
 */
export const MAX_STORABLE_ID = (1n << 63n) - 1n;

const DECIMAL_ID = /^[0-9]{1,20}$/;

/**
 * Parses a decimal id (a message or group Snowflake) for storage. Throws a RangeError naming
 * `field` unless it is a decimal in 1..2^63-1 ("0" is the proto default, i.e. "not set").
 */
export function parseStorableId(value: string, field: string): bigint {
  if (!DECIMAL_ID.test(value)) {
    throw new RangeError(`${field} must be a decimal id, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  const id = BigInt(value);
  if (id < 1n || id > MAX_STORABLE_ID) throw new RangeError(`${field} ${value} is outside 1..2^63-1`);
  return id;
}

/** Throws a RangeError naming `field` unless `id` is in 0..2^63-1. */
export function assertStorableId(id: bigint, field: string): bigint {
  if (id < 0n || id > MAX_STORABLE_ID) throw new RangeError(`${field} ${id} is outside 0..2^63-1`);
  return id;
}

/**
 * Snowflake ids in SQLite. A SQLite INTEGER is a signed 64-bit value; a Snowflake's top bit is an
 * always-zero sign bit, so every real id fits unchanged and INTEGER order is id order. Ids are
 * bound as bigint and read back through `safeIntegers(true)` statements, never as JS numbers
 * (which lose precision above 2^53).
 */

/** The largest value an SQLite INTEGER holds, 2^63 - 1: an upper bound of every stored id. */
export const MAX_SQLITE_INTEGER = (1n << 63n) - 1n;

const DECIMAL_ID = /^[0-9]{1,20}$/;

/**
 * Parses a decimal id (a message or group Snowflake) for storage. Throws a RangeError naming
 * `field` unless it is a decimal in 1..2^63-1 ("0" is the proto default, i.e. "not set").
 */
export function parseStoredId(value: string, field: string): bigint {
  if (!DECIMAL_ID.test(value)) {
    throw new RangeError(`${field} must be a decimal id, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  const id = BigInt(value);
  if (id < 1n || id > MAX_SQLITE_INTEGER) throw new RangeError(`${field} ${value} is outside 1..2^63-1`);
  return id;
}

/** Throws a RangeError naming `field` unless `id` is in 0..2^63-1, the ids SQLite can store. */
export function assertStorableId(id: bigint, field: string): bigint {
  if (id < 0n || id > MAX_SQLITE_INTEGER) throw new RangeError(`${field} ${id} is outside 0..2^63-1`);
  return id;
}

/**
 * Runs synchronous driver work as a promise, so the ports stay async (the Cassandra adapters are)
 * and a thrown error becomes a rejection rather than a synchronous throw from an async API.
 */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

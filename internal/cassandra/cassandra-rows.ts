import type { types } from 'cassandra-driver';

/**
 * Typed reads of driver rows. The driver hands columns out as `any`; these check the runtime type
 * the schema promises (text -> string, bigint -> bigint under useBigIntAsLong, int -> number,
 * timestamp -> Date) and throw on anything else, so a schema mismatch fails loudly instead of
 * leaking `any` into the stores.
 */

export function textColumn(row: types.Row, column: string): string {
  const value: unknown = row.get(column);
  if (typeof value !== 'string') throw new TypeError(`cassandra column ${column}: expected text, got ${describe(value)}`);
  return value;
}

export function bigintColumn(row: types.Row, column: string): bigint {
  const value: unknown = row.get(column);
  if (typeof value !== 'bigint') throw new TypeError(`cassandra column ${column}: expected bigint, got ${describe(value)}`);
  return value;
}

export function intColumn(row: types.Row, column: string): number {
  const value: unknown = row.get(column);
  if (typeof value !== 'number') throw new TypeError(`cassandra column ${column}: expected int, got ${describe(value)}`);
  return value;
}

export function dateColumn(row: types.Row, column: string): Date {
  const value: unknown = row.get(column);
  if (!(value instanceof Date)) throw new TypeError(`cassandra column ${column}: expected timestamp, got ${describe(value)}`);
  return value;
}

/** A column that may be null (a static column of an empty partition, an unset cell). */
export function isNullColumn(row: types.Row, column: string): boolean {
  const value: unknown = row.get(column);
  return value === null || value === undefined;
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

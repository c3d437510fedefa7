import { ChatError } from '../errors/chat-error';
import { parseSnowflake } from '../snowflake/snowflake';

/** A page size from a request: 0 means the default; anything above the cap is capped. */
export function pageLimit(requested: number, limits: { defaultPageSize: number; maxPageSize: number }): number {
  if (!Number.isInteger(requested) || requested < 0) throw ChatError.invalidArgument('limit must be a non-negative integer');
  return requested === 0 ? limits.defaultPageSize : Math.min(requested, limits.maxPageSize);
}

/** A message-id cursor from a request: "" or "0" mean unset; anything else must be a uint64. */
export function parseCursor(value: string, field: string): bigint | undefined {
  if (value === '' || value === '0') return undefined;
  try {
    return parseSnowflake(value);
  } catch {
    throw ChatError.invalidArgument(`${field} must be a message id (a decimal uint64), got ${JSON.stringify(value.slice(0, 40))}`);
  }
}

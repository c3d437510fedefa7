import { errors, types } from 'cassandra-driver';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';

const codes = types.responseErrorCodes;

/**
 * Server answers that say "not now" (no replicas, overloaded, a replica timed out, a write's
 * outcome is unknown): the request may succeed later. Every other server error (syntax, invalid
 * query, unauthorized, schema) is a bug or a misconfiguration, and retrying will not help.
 */
const TRANSIENT_RESPONSES = new Set<number>([
  codes.serverError,
  codes.unavailableException,
  codes.overloaded,
  codes.isBootstrapping,
  codes.truncateError,
  codes.writeTimeout,
  codes.readTimeout,
  codes.readFailure,
  codes.writeFailure,
  0x1700, // CAS_WRITE_UNKNOWN (protocol v5): a lightweight transaction's outcome is unknown.
]);

/** Thrown when a call to Cassandra outlives its deadline; becomes UNAVAILABLE like driver timeouts. */
export class CassandraDeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer from Cassandra within ${ms} ms`);
    this.name = 'CassandraDeadlineError';
  }
}

/**
 * A failed driver call as the error the port throws, always a ChatError: driver and network
 * failures (no host reachable, timeouts, a socket closed under a request, a closed client,
 * transient server errors) become UNAVAILABLE; anything else (a query the server refuses as
 * wrong, an encoding bug) becomes INTERNAL. Both keep the driver error as `cause`, for the log;
 * the message names the operation, never the server's text.
 */
export function toStoreError(err: unknown, what: string): ChatError {
  if (err instanceof ChatError) return err;
  if (isUnavailable(err)) {
    return new ChatError(ErrorCode.ERROR_CODE_UNAVAILABLE, `storage is unavailable (cassandra: ${what})`, { cause: err });
  }
  return new ChatError(ErrorCode.ERROR_CODE_INTERNAL, `storage rejected a query (cassandra: ${what})`, { cause: err });
}

/** Whether a driver failure is about reaching Cassandra (worth a retry later), not the query. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof CassandraDeadlineError) return true;
  if (err instanceof errors.ResponseError) return TRANSIENT_RESPONSES.has(err.code);
  if (
    err instanceof errors.NoHostAvailableError ||
    err instanceof errors.OperationTimedOutError ||
    err instanceof errors.BusyConnectionError ||
    err instanceof errors.AuthenticationError
  ) {
    return true;
  }
  // The driver fails requests in flight on a closed socket with a DriverError flagged
  // isSocketError, and a pool losing its connections with plain "Connection closed" /
  // "No connection available" errors.
  if (err instanceof errors.DriverError) return (err as { isSocketError?: unknown }).isSocketError === true;
  return err instanceof Error && err.constructor === Error && /connection|socket/i.test(err.message);
}

/**
 * Whether a lightweight transaction failed in its Paxos round (it lost to a concurrent one on the
 * same partition, or a replica timed out mid-round): the server is up but the outcome is unknown.
 * The transaction may still be applied, by this round or when the next round on that partition
 * completes it. Callers retry with a transaction whose result tells them which happened (an
 * `IF NOT EXISTS` answers with the stored row; a version check with the current version).
 */
export function isLwtContention(err: unknown): boolean {
  const cause = err instanceof ChatError ? err.cause : err;
  if (!(cause instanceof errors.ResponseError)) return false;
  if (cause.code === 0x1700) return true;
  const details = cause as { writeType?: unknown; consistencies?: unknown };
  const code: number = cause.code;
  if (code === Number(codes.writeTimeout)) return details.writeType === 'CAS';
  if (code === Number(codes.readTimeout)) {
    return details.consistencies === Number(types.consistencies.serial) || details.consistencies === Number(types.consistencies.localSerial);
  }
  return false;
}

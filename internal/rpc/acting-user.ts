import type { Principal } from '../auth/principal';
import { ChatError } from '../errors/chat-error';

/**
 * The user a per-user read acts for: users read their own; services (chat servers, the API
 * server) name the user. A user naming someone else is refused rather than silently served their
 * own data.
 */
export function actingUser(caller: Principal, userId: string): Principal {
  if (caller.kind === 'service') return { kind: 'user', id: required(userId, 'user_id') };
  if (userId !== '' && userId !== caller.id) throw ChatError.permissionDenied('users may only read their own data');
  return caller;
}

/** A required string field of a request; INVALID_ARGUMENT naming the field when empty. */
export function required(value: string, field: string): string {
  if (value === '') throw ChatError.invalidArgument(`${field} is required`);
  return value;
}

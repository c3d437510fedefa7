import { ChatError } from '../errors/chat-error';

/**
 * Conversation ids are computable by any client:
 * - a DM between users a and b is `dm:` + the two user ids sorted (by UTF-16 code units, as JS
 *   sorts strings) and joined by `:`; a DM with oneself is not allowed;
 * - a group's conversation is `g:` + the group id (a decimal Snowflake).
 */
export type ConversationRef =
  | { kind: 'dm'; id: string; members: readonly [string, string] }
  | { kind: 'group'; id: string; groupId: string };

/** User ids are chosen by the embedding team: 1..128 characters, no ':' (the DM separator) or spaces. */
const USER_ID = /^[A-Za-z0-9_.@+=-]{1,128}$/;
const GROUP_ID = /^[1-9][0-9]{0,19}$/;

export function isValidUserId(userId: string): boolean {
  return USER_ID.test(userId);
}

/** Throws INVALID_ARGUMENT naming the bad user id. */
export function assertUserId(userId: string, field = 'user_id'): string {
  if (!isValidUserId(userId)) {
    throw ChatError.invalidArgument(`${field} must be 1-128 characters of [A-Za-z0-9_.@+=-], got ${JSON.stringify(userId.slice(0, 140))}`);
  }
  return userId;
}

export function dmConversationId(a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a];
  return `dm:${x}:${y}`;
}

export function groupConversationId(groupId: string): string {
  return `g:${groupId}`;
}

/** Parses and validates a conversation id; throws INVALID_ARGUMENT when it is not canonical. */
export function parseConversationId(id: string): ConversationRef {
  if (id.startsWith('dm:')) {
    const parts = id.slice(3).split(':');
    const [a, b] = parts;
    if (parts.length === 2 && a !== undefined && b !== undefined && isValidUserId(a) && isValidUserId(b) && a < b) {
      return { kind: 'dm', id, members: [a, b] };
    }
    throw ChatError.invalidArgument(`bad DM conversation id ${JSON.stringify(id.slice(0, 300))}: expected dm:<a>:<b> with a < b`);
  }
  if (id.startsWith('g:')) {
    const groupId = id.slice(2);
    if (GROUP_ID.test(groupId) && BigInt(groupId) < 1n << 64n) return { kind: 'group', id, groupId };
  }
  throw ChatError.invalidArgument(`bad conversation id ${JSON.stringify(id.slice(0, 300))}: expected dm:<a>:<b> or g:<group_id>`);
}

import { PresenceStatus, UserPresence } from '../../gen/chat/v1/message';

/** The bus topic carrying every presence transition as a protobuf UserPresence, keyed by user. */
export const PRESENCE_TOPIC = 'chat.presence.v1';

export function presenceOf(userId: string, online: boolean, lastSeenMs?: number): UserPresence {
  return {
    userId,
    status: online ? PresenceStatus.PRESENCE_STATUS_ONLINE : PresenceStatus.PRESENCE_STATUS_OFFLINE,
    lastSeen: lastSeenMs !== undefined ? new Date(lastSeenMs) : undefined,
  };
}

export function encodePresence(p: UserPresence): Uint8Array {
  return UserPresence.encode(p).finish();
}

export function decodePresence(payload: Uint8Array): UserPresence {
  return UserPresence.decode(payload);
}

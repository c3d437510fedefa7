import { PresenceStatus, type UserPresence } from '../../gen/chat/v1/message';

/** The UserPresence of a transition or a store record. */
export function presenceOf(userId: string, online: boolean, lastSeenMs?: number): UserPresence {
  return {
    userId,
    status: online ? PresenceStatus.PRESENCE_STATUS_ONLINE : PresenceStatus.PRESENCE_STATUS_OFFLINE,
    lastSeen: lastSeenMs !== undefined ? new Date(lastSeenMs) : undefined,
  };
}

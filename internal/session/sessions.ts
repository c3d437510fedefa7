import type { Connection } from '../../gen/chat/v1/session';
import type { UserPresence } from '../../gen/chat/v1/message';

/**
 * What a chat server needs from the session service. In `chatd` the SessionTracker itself; in the
 * mesh a gRPC client of SessionService (with deadlines and batched calls).
 */
export interface Sessions {
  register(connection: Connection): Promise<{ becameOnline: boolean }>;
  /**
   * Chat server `serverId`, running as instance `token`, is alive for its lease TTL: the one call
   * that keeps every connection it registered live (no call per connection or heartbeat). Renew
   * every third of the TTL. `lapsed`: the server held no live lease under this token (first
   * renewal, restart, or a stall past the TTL), so none of its connections is registered any
   * more: register them all again. `ttlMs`: the lease's TTL, which sets the renewal period.
   */
  renewServerLease(serverId: string, token: string): Promise<LeaseGrant>;
  unregister(sessionId: string): Promise<{ becameOffline: boolean }>;
  /**
   * The live connections of the users. With `locatorServerId`, that chat server is told (its
   * inbox's `connectionsChanged`) when these users' connections change within
   * CHAT_LOCATE_CACHE_MS, so it may cache the answer that long; without, nothing is remembered.
   */
  locate(userIds: readonly string[], locatorServerId?: string): Promise<Connection[]>;
  presence(userIds: readonly string[]): Promise<UserPresence[]>;
  /**
   * Chat server `serverId` watches the presence of these users for CHAT_PRESENCE_WATCH_TTL_MS: their
   * presence changes from when this resolves go to its inbox (`presences`). Renew before it lapses.
   */
  addPresenceWatches(serverId: string, userIds: readonly string[]): Promise<void>;
}

/** What a lease renewal grants: whether the lease had lapsed (re-register everything) and its TTL. */
export interface LeaseGrant {
  lapsed: boolean;
  ttlMs: number;
  /** The lease's epoch; another one than the server registered under also means register again. */
  epoch: number;
}

import type { Connection } from '../../gen/chat/v1/session';

/** A user's presence as the store knows it. */
export interface PresenceRecord {
  userId: string;
  online: boolean;
  /** Latest heartbeat while online; when the user went offline otherwise. Unset if never seen. */
  lastSeenMs?: number;
}

/** A user whose last connection went away. */
export interface OfflineTransition {
  userId: string;
  lastSeenMs: number;
}

export interface RegisterResult {
  becameOnline: boolean;
  /** The user's unreported offline transition, when its earlier connections had lapsed. */
  lapsed?: OfflineTransition;
}

/**
 * SessionStore holds live connections with a TTL and the last-seen time of every user (memory in
 * `chatd`, Redis in the mesh). It is the source of presence: a user is online while it has at
 * least one unexpired connection.
 *
 * Guarantees implementers keep:
 * - `register` is idempotent by session id and reports `becameOnline` exactly once per offline →
 *   online transition; it rejects with LIMIT_EXCEEDED when the user already has `maxPerUser`
 *   other live connections. When the user's previous connections lapsed but were not yet swept,
 *   it removes them and reports that offline transition as `lapsed`, so watchers see OFFLINE
 *   before the new ONLINE rather than ONLINE twice.
 * - `unregister` and `expire` report each online → offline transition exactly once, together with
 *   the last-seen time they stored; a connection removed by one is not reported by the other.
 * - `refresh` extends the TTL of known sessions and names the unknown ones; it never resurrects.
 * - Reads never return a connection whose TTL lapsed, even before `expire` ran.
 */
export interface SessionStore {
  register(connection: Connection, nowMs: number, ttlMs: number, maxPerUser: number): Promise<RegisterResult>;
  refresh(sessionIds: readonly string[], nowMs: number, ttlMs: number): Promise<{ unknown: string[] }>;
  unregister(sessionId: string, nowMs: number): Promise<{ offline?: OfflineTransition }>;
  /** Removes every connection whose TTL lapsed by `nowMs`; returns the users that went offline. */
  expire(nowMs: number): Promise<OfflineTransition[]>;
  locate(userIds: readonly string[], nowMs: number): Promise<Connection[]>;
  presence(userIds: readonly string[], nowMs: number): Promise<PresenceRecord[]>;
  close(): Promise<void>;
}

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
 *
 * It also remembers which chat servers are interested in a user, so that the user's changes are
 * told to those servers only: presence watchers (`addPresenceWatches`: a connection there
 * subscribed to the user's presence) and locators (`noteLocated`: the server cached where the
 * user's devices are). Each is an entry (user, server) that lives until its expiry:
 * - adding an entry again keeps the later of the two expiries, never shortens it;
 * - `presenceWatchers` and `locators` return, per user, the servers whose entry has not lapsed at
 *   `nowMs`, in no particular order; an entry added before a read is seen by it;
 * - a lapsed entry costs nothing for long: its storage is reclaimed by itself (Redis key expiry;
 *   the memory store prunes them in `expire`), never by a scan over every user. Costs follow the
 *   adds and reads, never heartbeats.
 */
export interface SessionStore {
  register(connection: Connection, nowMs: number, ttlMs: number, maxPerUser: number): Promise<RegisterResult>;
  refresh(sessionIds: readonly string[], nowMs: number, ttlMs: number): Promise<{ unknown: string[] }>;
  unregister(sessionId: string, nowMs: number): Promise<{ offline?: OfflineTransition }>;
  /** Removes every connection whose TTL lapsed by `nowMs`; returns the users that went offline. */
  expire(nowMs: number): Promise<OfflineTransition[]>;
  locate(userIds: readonly string[], nowMs: number): Promise<Connection[]>;
  presence(userIds: readonly string[], nowMs: number): Promise<PresenceRecord[]>;
  /** Chat server `serverId` watches the presence of these users until `nowMs + ttlMs`. */
  addPresenceWatches(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): Promise<void>;
  /** Chat server `serverId` caches the location of these users until `nowMs + ttlMs`. */
  noteLocated(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): Promise<void>;
  /** Per user (in the order of `userIds`), the servers watching its presence at `nowMs`. */
  presenceWatchers(userIds: readonly string[], nowMs: number): Promise<string[][]>;
  /** Per user (in the order of `userIds`), the servers caching its location at `nowMs`. */
  locators(userIds: readonly string[], nowMs: number): Promise<string[][]>;
  close(): Promise<void>;
}

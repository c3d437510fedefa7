import type { Connection } from '../../gen/chat/v1/session';
import { ChatError } from '../errors/chat-error';

/** A user's presence as the store knows it. */
export interface PresenceRecord {
  userId: string;
  online: boolean;
  /** When the user went offline; while online, when a connection of it last registered. Unset if never seen. */
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

/** What renewing a chat server's lease found. */
export interface LeaseRenewal {
  /**
   * The server held no live lease under this instance token (its first renewal, a restart under
   * the same id, or a lease that lapsed): a new one was taken, under which none of its connections
   * are registered. The server must register every live connection again.
   */
  lapsed: boolean;
  /** The lease's epoch: another one than the server registered under means register again too. */
  epoch: number;
}

/**
 * SessionStore holds live connections and the last-seen time of every user (memory in `chatd`,
 * Redis in the mesh). It is the source of presence: a user is online while it has at least one
 * live connection.
 *
 * Liveness is owned by the chat servers, so the store's costs follow changes, not heartbeats. A
 * chat server times out its own silent connections (and unregisters them); to the store it proves
 * it is alive with one lease (`renewServer`), renewed well within `ttlMs`. A connection is live
 * while it is registered under its server's current lease: when a lease lapses (the server died
 * or stalled) or its server renews under a new instance token (a restart), every connection
 * registered under the old lease is dead, and `expire` removes it.
 *
 * Guarantees implementers keep:
 * - `register` is idempotent by session id and reports `becameOnline` exactly once per offline →
 *   online transition; it rejects with UNAVAILABLE when the connection's server holds no live
 *   lease, and with LIMIT_EXCEEDED when the user already has `maxPerUser` other live connections.
 *   When the user's previous connections are dead but not yet swept, it removes them and reports
 *   that offline transition as `lapsed`, so watchers see OFFLINE before the new ONLINE rather
 *   than ONLINE twice.
 * - `unregister` and `expire` report each online → offline transition exactly once, together with
 *   the last-seen time they stored; a connection removed by one is not reported by the other.
 *   `expire` dates a transition at the end of the lease its connections died with.
 * - `renewServer` by the same instance extends its lease even past its expiry until `expire`
 *   took it (a renewal held up by a store outage keeps the server's connections); after that it
 *   never resurrects: connections of a swept lease stay dead.
 * - Reads never return a dead connection, even before `expire` ran.
 * - Session ids are `<server id>.<unique>` (`sessionIdFor`): a session names its server.
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
  /** Chat server `serverId`, running as instance `token`, is alive until `nowMs + ttlMs`. */
  renewServer(serverId: string, token: string, nowMs: number, ttlMs: number): Promise<LeaseRenewal>;
  register(connection: Connection, nowMs: number, maxPerUser: number): Promise<RegisterResult>;
  unregister(sessionId: string, nowMs: number): Promise<{ offline?: OfflineTransition }>;
  /** Removes the connections of every lapsed or replaced lease; returns the users that went offline. */
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

/** The session id of a new connection of chat server `serverId`. */
export function sessionIdFor(serverId: string, unique: string): string {
  return `${serverId}.${unique}`;
}

/** The chat server a session id names (see {@link sessionIdFor}); undefined for a malformed id. */
export function serverOfSession(sessionId: string): string | undefined {
  const dot = sessionId.lastIndexOf('.');
  return dot > 0 ? sessionId.slice(0, dot) : undefined;
}

/** Registering under a server that holds no live lease: UNAVAILABLE, as the server renews and registers again. */
export function noLease(serverId: string): ChatError {
  return ChatError.unavailable(`chat server ${serverId} holds no live lease: it renews, then registers its connections again`);
}

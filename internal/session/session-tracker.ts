import type { Logger } from 'pino';
import type { Connection } from '../../gen/chat/v1/session';
import type { UserPresence } from '../../gen/chat/v1/message';
import { SessionNotices, type NoticeSender } from './session-notices';
import type { SessionStore } from './session-store';
import type { LeaseGrant, Sessions } from './sessions';
import { presenceOf } from './user-presence';

export interface SessionTrackerOptions {
  store: SessionStore;
  /** Where notices for one chat server go: its delivery topic in the mesh, its inbox in `chatd`. */
  send: NoticeSender;
  log: Logger;
  /** How long a chat server's lease lasts unless renewed (CHAT_SERVER_LEASE_TTL_MS). */
  leaseTtlMs: number;
  maxConnectionsPerUser: number;
  /** How often the connections of lapsed leases are swept; a fraction of the TTL so OFFLINE is timely. */
  sweepIntervalMs: number;
  /** How long a presence watch lasts unless renewed (CHAT_PRESENCE_WATCH_TTL_MS). */
  presenceWatchTtlMs: number;
  /** How long a chat server may cache a location it asked for (CHAT_LOCATE_CACHE_MS; 0: none). */
  locateCacheMs: number;
  /** Presences (and user ids) per notice at most (CHAT_MAX_GROUP_SIZE). */
  maxPerNotice: number;
  now?: () => number;
}

/**
 * The session service's logic: connections in, presence transitions and connection changes out,
 * each told only to the chat servers that watch or located that user (SessionNotices). OFFLINE is
 * found both on disconnect and by a periodic sweep of lapsed chat server leases (a chat server
 * that died says nothing). Transitions also go to in-process listeners ({@link onPresence}:
 * WatchPresence).
 */
export class SessionTracker implements Sessions {
  private readonly now: () => number;
  private readonly notices: SessionNotices;
  private readonly listeners = new Set<(p: UserPresence) => void>();
  private sweeper?: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly opts: SessionTrackerOptions) {
    this.now = opts.now ?? Date.now;
    this.notices = new SessionNotices({ store: opts.store, send: opts.send, maxPerNotice: opts.maxPerNotice, now: this.now });
  }

  start(): void {
    this.sweeper = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Calls `listener` with every presence transition of this process; returns the unsubscribe. */
  onPresence(listener: (p: UserPresence) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Resolves once the transition and the connection change are told. Every new connection is a
   * change (a missed one would hide a device from deliveries); a connection that left is only told
   * when it was the user's last, since relaying to a server that no longer holds a device costs
   * nothing but a no-op push.
   */
  async register(connection: Connection): Promise<{ becameOnline: boolean }> {
    const now = this.now();
    const r = await this.opts.store.register(connection, now, this.opts.maxConnectionsPerUser);
    const told: Promise<void>[] = [];
    if (r.lapsed) told.push(this.transition(presenceOf(r.lapsed.userId, false, r.lapsed.lastSeenMs)));
    if (r.becameOnline) told.push(this.transition(presenceOf(connection.userId, true, now)));
    told.push(this.notices.connectionsChanged(connection.userId));
    await Promise.all(told);
    return { becameOnline: r.becameOnline };
  }

  async renewServerLease(serverId: string, token: string): Promise<LeaseGrant> {
    const { lapsed, epoch } = await this.opts.store.renewServer(serverId, token, this.now(), this.opts.leaseTtlMs);
    return { lapsed, ttlMs: this.opts.leaseTtlMs, epoch };
  }

  async unregister(sessionId: string): Promise<{ becameOffline: boolean }> {
    const { offline } = await this.opts.store.unregister(sessionId, this.now());
    if (offline) await Promise.all([this.transition(presenceOf(offline.userId, false, offline.lastSeenMs)), this.notices.connectionsChanged(offline.userId)]);
    return { becameOffline: offline !== undefined };
  }

  /**
   * With a locator, notes it before reading: a change that the read missed was made after the
   * note, so its notice finds the locator.
   */
  async locate(userIds: readonly string[], locatorServerId?: string): Promise<Connection[]> {
    const now = this.now();
    if (locatorServerId && this.opts.locateCacheMs > 0) await this.opts.store.noteLocated(locatorServerId, userIds, now, this.opts.locateCacheMs);
    return this.opts.store.locate(userIds, now);
  }

  async presence(userIds: readonly string[]): Promise<UserPresence[]> {
    const records = await this.opts.store.presence(userIds, this.now());
    return records.map((r) => presenceOf(r.userId, r.online, r.lastSeenMs));
  }

  addPresenceWatches(serverId: string, userIds: readonly string[]): Promise<void> {
    return this.opts.store.addPresenceWatches(serverId, userIds, this.now(), this.opts.presenceWatchTtlMs);
  }

  /** Reports the connections of lapsed leases as OFFLINE, told in one notice per server. Exposed for tests that drive the clock. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const told: Promise<void>[] = [];
      for (const t of await this.opts.store.expire(this.now())) {
        told.push(this.transition(presenceOf(t.userId, false, t.lastSeenMs)), this.notices.connectionsChanged(t.userId));
      }
      await Promise.all(told);
    } catch (err) {
      this.opts.log.error({ err }, 'presence sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  private transition(p: UserPresence): Promise<void> {
    for (const listener of this.listeners) listener(p);
    return this.notices.presence(p);
  }
}

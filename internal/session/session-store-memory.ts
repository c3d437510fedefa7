import type { Connection } from '../../gen/chat/v1/session';
import { KeyedLists } from '../collections/keyed-lists';
import { ChatError } from '../errors/chat-error';
import { MemoryServerInterest } from './server-interest-memory';
import { noLease, type LeaseRenewal, type OfflineTransition, type PresenceRecord, type RegisterResult, type SessionStore } from './session-store';

interface Entry {
  connection: Connection;
  /** The lease of its server it was registered under. */
  epoch: number;
}

interface Lease {
  token: string;
  epoch: number;
  expiresAtMs: number;
}

/**
 * The in-memory SessionStore of `chatd`. Presence and sessions are rebuilt from live connections
 * after a restart (clients reconnect), so nothing here needs to be durable; last-seen times of
 * users who went offline before a restart are lost with it.
 */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Entry>();
  private readonly byUser = new KeyedLists<string, string>();
  /** Session ids per server and lease epoch: what a lapsed lease takes with it. */
  private readonly byLease = new Map<string, Map<number, Set<string>>>();
  private readonly leases = new Map<string, Lease>();
  /** Epochs replaced by a new lease (a restart) but not yet swept, with when they ended. */
  private readonly replaced = new Map<string, Map<number, number>>();
  /** The last epoch of every server: epochs only grow, so an old entry is never live again. */
  private readonly epochs = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();
  private readonly watchers = new MemoryServerInterest();
  private readonly locatedBy = new MemoryServerInterest();

  renewServer(serverId: string, token: string, nowMs: number, ttlMs: number): Promise<LeaseRenewal> {
    const lease = this.leases.get(serverId);
    // The same instance keeps its lease until a sweep took it, even renewing late.
    if (lease && lease.token === token) {
      lease.expiresAtMs = Math.max(lease.expiresAtMs, nowMs + ttlMs);
      return Promise.resolve({ lapsed: false, epoch: lease.epoch });
    }
    if (lease) this.endEpoch(serverId, lease.epoch, Math.min(lease.expiresAtMs, nowMs));
    const epoch = (this.epochs.get(serverId) ?? 0) + 1;
    this.epochs.set(serverId, epoch);
    this.leases.set(serverId, { token, epoch, expiresAtMs: nowMs + ttlMs });
    return Promise.resolve({ lapsed: true, epoch });
  }

  register(connection: Connection, nowMs: number, maxPerUser: number): Promise<RegisterResult> {
    const lease = this.leases.get(connection.serverId);
    if (!lease || lease.expiresAtMs <= nowMs) return Promise.reject(noLease(connection.serverId));
    const existing = this.sessions.get(connection.sessionId);
    if (existing && existing.epoch === lease.epoch) return Promise.resolve({ becameOnline: false });
    const live = this.liveSessions(connection.userId, nowMs);
    if (live.length >= maxPerUser) {
      return Promise.reject(ChatError.limitExceeded(`user ${connection.userId} already has ${maxPerUser} live connections`));
    }
    const lapsed = live.length === 0 ? this.removeDead(connection.userId, nowMs) : undefined;
    this.sessions.set(connection.sessionId, { connection, epoch: lease.epoch });
    this.byUser.add(connection.userId, connection.sessionId);
    this.leaseSessions(connection.serverId, lease.epoch).add(connection.sessionId);
    this.lastSeen.set(connection.userId, Math.max(this.lastSeen.get(connection.userId) ?? 0, nowMs));
    return Promise.resolve(lapsed ? { becameOnline: true, lapsed } : { becameOnline: live.length === 0 });
  }

  unregister(sessionId: string, nowMs: number): Promise<{ offline?: OfflineTransition }> {
    const e = this.sessions.get(sessionId);
    if (!e) return Promise.resolve({});
    // A dead entry went offline when its lease ended, not now.
    return Promise.resolve({ offline: this.remove(e, this.endOf(e, nowMs) ?? nowMs) });
  }

  /** Also prunes lapsed presence watchers and locators: the sweep is this store's only timer. */
  expire(nowMs: number): Promise<OfflineTransition[]> {
    this.watchers.prune(nowMs);
    this.locatedBy.prune(nowMs);
    for (const [serverId, lease] of this.leases) {
      if (lease.expiresAtMs > nowMs) continue;
      this.leases.delete(serverId);
      this.endEpoch(serverId, lease.epoch, lease.expiresAtMs);
    }
    const out: OfflineTransition[] = [];
    for (const [serverId, ended] of this.replaced) {
      for (const [epoch, atMs] of ended) {
        for (const id of this.byLease.get(serverId)?.get(epoch) ?? []) {
          const e = this.sessions.get(id);
          const t = e && e.epoch === epoch ? this.remove(e, atMs) : undefined;
          if (t) out.push(t);
        }
        this.byLease.get(serverId)?.delete(epoch);
      }
      this.replaced.delete(serverId);
    }
    return Promise.resolve(out);
  }

  locate(userIds: readonly string[], nowMs: number): Promise<Connection[]> {
    return Promise.resolve(userIds.flatMap((u) => this.liveSessions(u, nowMs).map((e) => e.connection)));
  }

  presence(userIds: readonly string[], nowMs: number): Promise<PresenceRecord[]> {
    return Promise.resolve(
      userIds.map((userId) => ({ userId, online: this.liveSessions(userId, nowMs).length > 0, lastSeenMs: this.lastSeen.get(userId) })),
    );
  }

  addPresenceWatches(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): Promise<void> {
    this.watchers.add(serverId, userIds, nowMs, ttlMs);
    return Promise.resolve();
  }

  noteLocated(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): Promise<void> {
    this.locatedBy.add(serverId, userIds, nowMs, ttlMs);
    return Promise.resolve();
  }

  presenceWatchers(userIds: readonly string[], nowMs: number): Promise<string[][]> {
    return Promise.resolve(userIds.map((u) => this.watchers.live(u, nowMs)));
  }

  locators(userIds: readonly string[], nowMs: number): Promise<string[][]> {
    return Promise.resolve(userIds.map((u) => this.locatedBy.live(u, nowMs)));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** When the lease an entry was registered under ended; undefined while it is live. */
  private endOf(e: Entry, nowMs: number): number | undefined {
    const { serverId } = e.connection;
    const lease = this.leases.get(serverId);
    if (lease?.epoch === e.epoch) return lease.expiresAtMs > nowMs ? undefined : lease.expiresAtMs;
    return this.replaced.get(serverId)?.get(e.epoch) ?? nowMs;
  }

  private endEpoch(serverId: string, epoch: number, atMs: number): void {
    let ended = this.replaced.get(serverId);
    if (!ended) this.replaced.set(serverId, (ended = new Map<number, number>()));
    ended.set(epoch, atMs);
  }

  private leaseSessions(serverId: string, epoch: number): Set<string> {
    let epochs = this.byLease.get(serverId);
    if (!epochs) this.byLease.set(serverId, (epochs = new Map<number, Set<string>>()));
    let ids = epochs.get(epoch);
    if (!ids) epochs.set(epoch, (ids = new Set()));
    return ids;
  }

  /** Removes a user's dead, unswept entries; the offline transition they amount to, if any. */
  private removeDead(userId: string, nowMs: number): OfflineTransition | undefined {
    let transition: OfflineTransition | undefined;
    for (const id of this.byUser.get(userId)) {
      const e = this.sessions.get(id);
      const end = e && this.endOf(e, nowMs);
      if (e && end !== undefined) transition = this.remove(e, end) ?? transition;
    }
    return transition;
  }

  private liveSessions(userId: string, nowMs: number): Entry[] {
    const out: Entry[] = [];
    for (const id of this.byUser.get(userId)) {
      const e = this.sessions.get(id);
      if (e && this.endOf(e, nowMs) === undefined) out.push(e);
    }
    return out;
  }

  /** Removes one entry; reports the user going offline when no other connection is left. */
  private remove(e: Entry, atMs: number): OfflineTransition | undefined {
    const { userId, sessionId, serverId } = e.connection;
    this.sessions.delete(sessionId);
    this.byLease.get(serverId)?.get(e.epoch)?.delete(sessionId);
    const seen = Math.max(this.lastSeen.get(userId) ?? 0, atMs);
    this.lastSeen.set(userId, seen);
    // Other entries left: if all of them are dead too, the sweep reports the transition.
    return this.byUser.remove(userId, sessionId) > 0 ? undefined : { userId, lastSeenMs: seen };
  }
}


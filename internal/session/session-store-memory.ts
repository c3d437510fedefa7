import type { Connection } from '../../gen/chat/v1/session';
import { KeyedLists } from '../collections/keyed-lists';
import { ChatError } from '../errors/chat-error';
import { MemoryServerInterest } from './server-interest-memory';
import type { OfflineTransition, PresenceRecord, RegisterResult, SessionStore } from './session-store';

interface Entry {
  connection: Connection;
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
  private readonly lastSeen = new Map<string, number>();
  private readonly watchers = new MemoryServerInterest();
  private readonly locatedBy = new MemoryServerInterest();

  register(connection: Connection, nowMs: number, ttlMs: number, maxPerUser: number): Promise<RegisterResult> {
    const existing = this.sessions.get(connection.sessionId);
    if (existing && existing.expiresAtMs > nowMs) {
      existing.expiresAtMs = nowMs + ttlMs;
      return Promise.resolve({ becameOnline: false });
    }
    const live = this.liveSessions(connection.userId, nowMs);
    const lapsed = live.length === 0 ? this.removeLapsed(connection.userId, nowMs) : undefined;
    if (live.length >= maxPerUser) {
      return Promise.reject(ChatError.limitExceeded(`user ${connection.userId} already has ${maxPerUser} live connections`));
    }
    this.sessions.set(connection.sessionId, { connection, expiresAtMs: nowMs + ttlMs });
    this.byUser.add(connection.userId, connection.sessionId);
    this.lastSeen.set(connection.userId, nowMs);
    return Promise.resolve(lapsed ? { becameOnline: true, lapsed } : { becameOnline: live.length === 0 });
  }

  /** Removes a user's lapsed, unswept entries; the offline transition they amount to, if any. */
  private removeLapsed(userId: string, nowMs: number): OfflineTransition | undefined {
    let transition: OfflineTransition | undefined;
    for (const id of [...this.byUser.get(userId)]) {
      const e = this.sessions.get(id);
      if (e && e.expiresAtMs <= nowMs) transition = this.remove(e, e.expiresAtMs) ?? transition;
    }
    return transition;
  }

  refresh(sessionIds: readonly string[], nowMs: number, ttlMs: number): Promise<{ unknown: string[] }> {
    const unknown: string[] = [];
    for (const id of sessionIds) {
      const e = this.sessions.get(id);
      if (!e || e.expiresAtMs <= nowMs) {
        unknown.push(id);
        continue;
      }
      e.expiresAtMs = nowMs + ttlMs;
      this.lastSeen.set(e.connection.userId, nowMs);
    }
    return Promise.resolve({ unknown });
  }

  unregister(sessionId: string, nowMs: number): Promise<{ offline?: OfflineTransition }> {
    const e = this.sessions.get(sessionId);
    if (!e) return Promise.resolve({});
    // An already-lapsed entry is the sweep's to report, with the time it lapsed.
    const at = e.expiresAtMs <= nowMs ? e.expiresAtMs : nowMs;
    return Promise.resolve({ offline: this.remove(e, at) });
  }

  /** Also prunes lapsed presence watchers and locators: the sweep is this store's only timer. */
  expire(nowMs: number): Promise<OfflineTransition[]> {
    this.watchers.prune(nowMs);
    this.locatedBy.prune(nowMs);
    const out: OfflineTransition[] = [];
    for (const e of this.sessions.values()) {
      if (e.expiresAtMs > nowMs) continue;
      const t = this.remove(e, e.expiresAtMs);
      if (t) out.push(t);
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

  private liveSessions(userId: string, nowMs: number): Entry[] {
    const out: Entry[] = [];
    for (const id of this.byUser.get(userId)) {
      const e = this.sessions.get(id);
      if (e && e.expiresAtMs > nowMs) out.push(e);
    }
    return out;
  }

  /** Removes one entry; reports the user going offline when no other connection is still live. */
  private remove(e: Entry, atMs: number): OfflineTransition | undefined {
    const { userId, sessionId } = e.connection;
    this.sessions.delete(sessionId);
    if (this.byUser.remove(userId, sessionId) > 0) {
      // Other entries exist; if all of them have lapsed too, the sweep reports the transition.
      return undefined;
    }
    this.lastSeen.set(userId, Math.max(this.lastSeen.get(userId) ?? 0, atMs));
    return { userId, lastSeenMs: this.lastSeen.get(userId)! };
  }
}

import type { Logger } from 'pino';
import type { Connection } from '../../gen/chat/v1/session';
import type { UserPresence } from '../../gen/chat/v1/message';
import type { Bus } from '../bus/bus';
import type { SessionStore } from './session-store';
import { CONNECTIONS_TOPIC, encodeConnectionsChanged } from './connections-topic';
import { PRESENCE_TOPIC, encodePresence, presenceOf } from './presence-topic';

export interface SessionTrackerOptions {
  store: SessionStore;
  bus: Bus;
  log: Logger;
  ttlMs: number;
  maxConnectionsPerUser: number;
  /** How often lapsed connections are swept; a fraction of the TTL so OFFLINE is timely. */
  sweepIntervalMs: number;
  now?: () => number;
}

/**
 * The session service's logic: connections in, presence transitions out. Every ONLINE/OFFLINE
 * transition the store reports is published on the presence topic. OFFLINE is found both on
 * disconnect and by a periodic sweep of lapsed TTLs (a chat server that died says nothing).
 */
export class SessionTracker {
  private readonly now: () => number;
  private sweeper?: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly opts: SessionTrackerOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.sweeper = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  async register(connection: Connection): Promise<{ becameOnline: boolean }> {
    const now = this.now();
    const r = await this.opts.store.register(connection, now, this.opts.ttlMs, this.opts.maxConnectionsPerUser);
    if (r.lapsed) await this.publish(presenceOf(r.lapsed.userId, false, r.lapsed.lastSeenMs));
    if (r.becameOnline) await this.publish(presenceOf(connection.userId, true, now));
    await this.changed(connection.userId);
    return { becameOnline: r.becameOnline };
  }

  heartbeat(sessionIds: readonly string[]): Promise<{ unknown: string[] }> {
    return this.opts.store.refresh(sessionIds, this.now(), this.opts.ttlMs);
  }

  async unregister(sessionId: string): Promise<{ becameOffline: boolean }> {
    const { offline } = await this.opts.store.unregister(sessionId, this.now());
    if (offline) await this.publish(presenceOf(offline.userId, false, offline.lastSeenMs));
    if (offline) await this.changed(offline.userId);
    return { becameOffline: offline !== undefined };
  }

  locate(userIds: readonly string[]): Promise<Connection[]> {
    return this.opts.store.locate(userIds, this.now());
  }

  async presence(userIds: readonly string[]): Promise<UserPresence[]> {
    const records = await this.opts.store.presence(userIds, this.now());
    return records.map((r) => presenceOf(r.userId, r.online, r.lastSeenMs));
  }

  /** Reports lapsed connections as OFFLINE. Exposed for tests that drive the clock. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const t of await this.opts.store.expire(this.now())) {
        await this.publish(presenceOf(t.userId, false, t.lastSeenMs));
        await this.changed(t.userId);
      }
    } catch (err) {
      this.opts.log.error({ err }, 'presence sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * Tells chat servers to drop their cached location of the user. Every new connection says so
   * (a missed one would hide a device from deliveries); a connection that left is only said when
   * it was the user's last, since relaying to a server that no longer holds a device costs nothing
   * but a no-op push.
   */
  private changed(userId: string): Promise<void> {
    return this.opts.bus.publish(CONNECTIONS_TOPIC, userId, encodeConnectionsChanged(userId));
  }

  private publish(p: UserPresence): Promise<void> {
    return this.opts.bus.publish(PRESENCE_TOPIC, p.userId, encodePresence(p));
  }
}

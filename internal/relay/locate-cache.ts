import type { Connection } from '../../gen/chat/v1/session';
import type { Bus, Subscription } from '../bus/bus';
import { CONNECTIONS_TOPIC, decodeConnectionsChanged } from '../session/connections-topic';
import type { Sessions } from '../session/sessions';

interface Entry {
  connections: Connection[];
  expiresAtMs: number;
}

/**
 * Where recipients are connected, cached per user so a busy conversation does not ask the session
 * service on every message. An entry is dropped when the session service says the user's
 * connections changed (`chat.sessions.v1`), and expires after `ttlMs` as a safety net. A lookup
 * that raced with such a change is not cached, so a new device is never hidden for longer than the
 * event takes to arrive.
 */
export class LocateCache implements Pick<Sessions, 'locate'> {
  private readonly entries = new Map<string, Entry>();
  /** Bumped per user on every change event; a lookup started before a bump is not cached. */
  private readonly generations = new Map<string, number>();
  private sub?: Subscription;

  constructor(
    private readonly sessions: Pick<Sessions, 'locate'>,
    private readonly opts: { ttlMs: number; maxUsers: number; now?: () => number },
  ) {}

  /** Resolves once change events published from now on invalidate the cache. */
  async start(bus: Bus): Promise<void> {
    this.sub = bus.subscribe(CONNECTIONS_TOPIC, (r) => this.invalidate(decodeConnectionsChanged(r.payload).userId));
    await this.sub.ready;
  }

  async stop(): Promise<void> {
    await this.sub?.close();
  }

  invalidate(userId: string): void {
    this.entries.delete(userId);
    this.generations.set(userId, (this.generations.get(userId) ?? 0) + 1);
  }

  async locate(userIds: readonly string[]): Promise<Connection[]> {
    if (this.opts.ttlMs <= 0) return this.sessions.locate(userIds);
    const now = (this.opts.now ?? Date.now)();
    const out: Connection[] = [];
    const missing: string[] = [];
    for (const u of userIds) {
      const e = this.entries.get(u);
      if (e && e.expiresAtMs > now) out.push(...e.connections);
      else missing.push(u);
    }
    if (missing.length === 0) return out;
    const started = new Map(missing.map((u) => [u, this.generations.get(u) ?? 0]));
    const found = await this.sessions.locate(missing);
    const byUser = new Map<string, Connection[]>(missing.map((u) => [u, []]));
    for (const c of found) byUser.get(c.userId)?.push(c);
    for (const [u, connections] of byUser) {
      if ((this.generations.get(u) ?? 0) !== started.get(u)) continue;
      this.entries.delete(u); // re-insert at the end: the map's order is the eviction order
      this.entries.set(u, { connections, expiresAtMs: now + this.opts.ttlMs });
    }
    this.evict();
    return out.concat(found);
  }

  private evict(): void {
    for (const u of this.entries.keys()) {
      if (this.entries.size <= this.opts.maxUsers) return;
      this.entries.delete(u);
    }
  }
}

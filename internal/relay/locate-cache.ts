import type { Connection } from '../../gen/chat/v1/session';
import type { Sessions } from '../session/sessions';

interface Entry {
  connections: Connection[];
  expiresAtMs: number;
}

/** Lookups of one user in flight, and the change notices that arrived meanwhile. */
interface Pending {
  lookups: number;
  changes: number;
}

export interface LocateCacheOptions {
  /** This chat server: the session service tells it when a user it located changes connections. */
  serverId: string;
  /** How long an answer is kept (CHAT_LOCATE_CACHE_MS, as long as the session service tells); 0: no cache. */
  ttlMs: number;
  maxUsers: number;
  now?: () => number;
}

/**
 * Where recipients are connected, cached per user so a busy conversation does not ask the session
 * service on every message. Lookups name this server, so the session service remembers for
 * `ttlMs` that it located those users and tells it (and no other server) when their connections
 * change: the server's inbox then calls {@link invalidate}. An entry expires after `ttlMs`, when the
 * session service stops telling. A lookup that raced with such a change is not cached, so a new
 * device is never hidden for longer than the notice takes to arrive.
 */
export class LocateCache implements Pick<Sessions, 'locate'> {
  private readonly entries = new Map<string, Entry>();
  /**
   * Users with a lookup in flight: how many, and the change notices counted meanwhile (a lookup
   * that saw one is not cached). Only those users are counted, so the map stays small.
   */
  private readonly inFlight = new Map<string, Pending>();

  constructor(
    private readonly sessions: Pick<Sessions, 'locate'>,
    private readonly opts: LocateCacheOptions,
  ) {}

  /** The user's connections changed (a notice from the session service): forget where they were. */
  invalidate(userId: string): void {
    this.entries.delete(userId);
    const pending = this.inFlight.get(userId);
    if (pending) pending.changes++;
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
    const started = new Map<string, { pending: Pending; changes: number }>();
    for (const u of missing) {
      const pending = this.inFlight.get(u) ?? { lookups: 0, changes: 0 };
      this.inFlight.set(u, pending);
      pending.lookups++;
      started.set(u, { pending, changes: pending.changes });
    }
    let found: Connection[];
    try {
      // The lookup names this server only because its answer is cached (until now + ttlMs, no
      // longer than the session service keeps telling, which counts from when it got the lookup).
      found = await this.sessions.locate([...started.keys()], this.opts.serverId);
    } finally {
      for (const [u, { pending }] of started) if (--pending.lookups === 0) this.inFlight.delete(u);
    }
    const byUser = new Map<string, Connection[]>([...started.keys()].map((u) => [u, []]));
    for (const c of found) byUser.get(c.userId)?.push(c);
    for (const [u, connections] of byUser) {
      const { pending, changes } = started.get(u)!;
      if (pending.changes !== changes) continue;
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

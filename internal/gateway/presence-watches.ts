import type { Logger } from 'pino';
import type { Sessions } from '../session/sessions';

export interface PresenceWatchesOptions {
  sessions: Pick<Sessions, 'addPresenceWatches'>;
  serverId: string;
  /** How long a watch lasts at the session service (CHAT_PRESENCE_WATCH_TTL_MS). */
  ttlMs: number;
  /** Users per AddPresenceWatches call at most (CHAT_MAX_GROUP_SIZE, the service's bound). */
  maxPerCall: number;
  /** The users some connection of this server watches now (ConnectionRegistry.watchedUsers). */
  watched: () => Iterable<string>;
  log: Logger;
  now: () => number;
}

/**
 * This chat server's presence watches at the session service, which then sends the server (and
 * only the servers watching) the presence changes of those users. A user is registered when a
 * connection starts watching it and renewed every third of the TTL while some connection still
 * watches it, so a watch has a third of the TTL to spare when a renewal is late or fails once.
 * A user registered or renewed within the last third is not registered again: a popular user
 * watched by many connections costs one write per third of the TTL, not one per subscription.
 * Users nobody watches any more are not renewed and lapse (their changes still arrive until then,
 * and find no watcher).
 */
export class PresenceWatches {
  /** When each user's watch was last recorded by the session service. */
  private readonly renewedAt = new Map<string, number>();
  /** Registrations in flight, so a second subscriber waits for the first instead of repeating it. */
  private readonly pending = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private renewing = false;

  constructor(private readonly opts: PresenceWatchesOptions) {}

  private get freshMs(): number {
    return this.opts.ttlMs / 3;
  }

  /**
   * Resolves once the session service has a live watch of each user by this server: a change
   * after that reaches this server, so a snapshot read afterwards misses nothing.
   */
  async add(userIds: readonly string[]): Promise<void> {
    const now = this.opts.now();
    const waits: Promise<void>[] = [];
    const fresh: string[] = [];
    for (const u of new Set(userIds)) {
      const inFlight = this.pending.get(u);
      if (inFlight) waits.push(inFlight);
      else if ((this.renewedAt.get(u) ?? -Infinity) <= now - this.freshMs) fresh.push(u);
    }
    for (let i = 0; i < fresh.length; i += this.opts.maxPerCall) waits.push(this.register(fresh.slice(i, i + this.opts.maxPerCall), now));
    await Promise.all(waits);
  }

  start(): void {
    this.timer = setInterval(() => void this.renew(), Math.max(1, Math.floor(this.freshMs)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Renews the watches of every user still watched and not renewed within the last third of the
   * TTL, one call per `maxPerCall` users; forgets the users nobody watches. A failed call is
   * logged and retried at the next tick. Exposed for tests that drive the clock.
   */
  async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const now = this.opts.now();
      const watched = new Set(this.opts.watched());
      for (const u of this.renewedAt.keys()) if (!watched.has(u)) this.renewedAt.delete(u);
      const due = [...watched].filter((u) => !this.pending.has(u) && (this.renewedAt.get(u) ?? -Infinity) <= now - this.freshMs);
      for (let i = 0; i < due.length; i += this.opts.maxPerCall) {
        await this.register(due.slice(i, i + this.opts.maxPerCall), now).catch((err: unknown) => this.opts.log.warn({ err, users: due.length - i }, 'presence watch renewal failed; retrying at the next tick'));
      }
    } finally {
      this.renewing = false;
    }
  }

  private register(userIds: string[], now: number): Promise<void> {
    const call = this.opts.sessions.addPresenceWatches(this.opts.serverId, userIds).then(() => {
      for (const u of userIds) this.renewedAt.set(u, now);
    });
    const done = call.finally(() => {
      for (const u of userIds) if (this.pending.get(u) === done) this.pending.delete(u);
    });
    for (const u of userIds) this.pending.set(u, done);
    return done;
  }
}

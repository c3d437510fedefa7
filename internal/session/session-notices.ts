import type { UserPresence } from '../../gen/chat/v1/message';
import type { SessionStore } from './session-store';

/**
 * What the session service tells one chat server (the RelayBatch fields `presences` and
 * `connections_changed` of its delivery topic): presence changes of users its connections watch,
 * and users whose connections changed among those it located.
 */
export interface SessionNotice {
  presences: UserPresence[];
  connectionsChanged: string[];
}

/**
 * Sends a notice to one chat server: its delivery topic in the mesh, its own inbox in `chatd`.
 * Resolves once accepted (for Kafka: acknowledged); rejects otherwise.
 */
export type NoticeSender = (serverId: string, notice: SessionNotice) => Promise<void>;

export interface SessionNoticesOptions {
  store: Pick<SessionStore, 'presenceWatchers' | 'locators'>;
  send: NoticeSender;
  /** Presences per notice at most, and as many user ids (CHAT_MAX_GROUP_SIZE, the per-call bound). */
  maxPerNotice: number;
  now: () => number;
}

interface Queued {
  presence?: UserPresence;
  changed?: string;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The session service's outbox of presence changes and connection changes. Each change goes only
 * to the chat servers that need it: a presence change to the servers watching that user
 * (SessionStore.presenceWatchers), a connection change to the servers that located the user
 * (SessionStore.locators). No server hears about users it has no interest in, so a login burst
 * on one server costs the others nothing.
 *
 * The changes of one event-loop turn (a RegisterConnections or UnregisterConnections call, a sweep)
 * go out together: one lookup of the interested servers, then one notice per server (split past
 * `maxPerNotice`). One flush runs at a time and changes queued meanwhile wait for the next, so
 * the notices to one server leave in the order their changes were queued (the bus orders only
 * publishes that do not overlap). Each caller's promise settles with its turn's flush: it
 * rejects when the lookup or any of the flush's sends failed, as a change that could not be told
 * is the caller's to report (a chat server would otherwise keep a stale location).
 */
export class SessionNotices {
  private queue: Queued[] = [];
  private scheduled?: NodeJS.Immediate;
  private flushing = false;

  constructor(private readonly opts: SessionNoticesOptions) {}

  /** Queues a presence change for the servers watching `presence.userId`. */
  presence(presence: UserPresence): Promise<void> {
    return this.enqueue({ presence });
  }

  /** Queues "this user's connections changed" for the servers that located it. */
  connectionsChanged(userId: string): Promise<void> {
    return this.enqueue({ changed: userId });
  }

  private enqueue(change: Pick<Queued, 'presence' | 'changed'>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...change, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (!this.flushing && this.queue.length > 0) this.scheduled ??= setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = undefined;
    this.flushing = true;
    const batch = this.queue;
    this.queue = [];
    try {
      await this.tell(batch);
      for (const q of batch) q.resolve();
    } catch (err) {
      for (const q of batch) q.reject(err);
    } finally {
      this.flushing = false;
      this.schedule();
    }
  }

  private async tell(batch: readonly Queued[]): Promise<void> {
    const presences = batch.flatMap((q) => (q.presence ? [q.presence] : []));
    const changed = [...new Set(batch.flatMap((q) => (q.changed !== undefined ? [q.changed] : [])))];
    const watched = [...new Set(presences.map((p) => p.userId))];
    const now = this.opts.now();
    const [watchers, locators] = await Promise.all([this.opts.store.presenceWatchers(watched, now), this.opts.store.locators(changed, now)]);
    const notices = new Map<string, SessionNotice>();
    const noticeOf = (serverId: string) => {
      let n = notices.get(serverId);
      if (!n) notices.set(serverId, (n = { presences: [], connectionsChanged: [] }));
      return n;
    };
    const watchersOf = new Map(watched.map((u, i) => [u, watchers[i] ?? []]));
    for (const p of presences) for (const s of watchersOf.get(p.userId) ?? []) noticeOf(s).presences.push(p);
    changed.forEach((u, i) => (locators[i] ?? []).forEach((s) => noticeOf(s).connectionsChanged.push(u)));
    await Promise.all([...notices].map(([serverId, notice]) => this.sendInParts(serverId, notice)));
  }

  /** One server's notice, in parts of `maxPerNotice`, one after another so they keep their order. */
  private async sendInParts(serverId: string, notice: SessionNotice): Promise<void> {
    const max = this.opts.maxPerNotice;
    for (let i = 0; i < Math.max(notice.presences.length, notice.connectionsChanged.length); i += max) {
      await this.opts.send(serverId, { presences: notice.presences.slice(i, i + max), connectionsChanged: notice.connectionsChanged.slice(i, i + max) });
    }
  }
}

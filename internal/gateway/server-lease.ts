import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Sessions } from '../session/sessions';

/** A connection the lease keeps registered: registers itself again after the lease lapsed. */
export interface Registrant {
  /** Registers the connection again; false when it could not yet (the session service was unavailable: retry). */
  reregister(): Promise<boolean>;
}

export interface ServerLeaseOptions {
  serverId: string;
  sessions: Pick<Sessions, 'renewServerLease'>;
  /** The connections that registered (or are registering) with the session service. */
  registrants: () => Iterable<Registrant>;
  log: Logger;
  /** Retry period of a failed renewal until the first grant tells the TTL. */
  retryMs?: number;
}

/**
 * One chat server's lease at the session service: the one call (every third of the lease TTL)
 * that keeps every connection of this server live, so client heartbeats stay here and cost the
 * session service nothing. Each start of the process is a new instance: connections a previous
 * run left behind are not taken for ours. When a renewal finds the lease lapsed (a stall past
 * the TTL, a session service that lost its state), every connection registers again; one that
 * cannot yet is retried at the next renewal.
 */
export class ServerLease {
  private readonly instance = randomUUID();
  private timer?: NodeJS.Timeout;
  private periodMs: number;
  private stopped = false;
  /** Some connection still has to register again after a lapse. */
  private pending = false;
  /** The lease epoch this server's connections are registered under. */
  private epoch?: number;

  constructor(private readonly opts: ServerLeaseOptions) {
    this.periodMs = opts.retryMs ?? 500;
  }

  /** Takes the lease (connections register under it); a failure is logged and retried. */
  async start(): Promise<void> {
    await this.renew();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Renews, registers everything again after a lapse, and schedules the next renewal. Exposed for tests. */
  async renew(): Promise<void> {
    clearTimeout(this.timer);
    try {
      const { lapsed, ttlMs, epoch } = await this.opts.sessions.renewServerLease(this.opts.serverId, this.instance);
      this.periodMs = Math.max(50, Math.floor(ttlMs / 3));
      // Another epoch than ours (a renewal that timed out was applied late and started one): as lapsed.
      if (lapsed || epoch !== this.epoch) this.pending = true;
      this.epoch = epoch;
      if (this.pending) this.pending = !(await this.registerAll(lapsed));
    } catch (err) {
      this.opts.log.warn({ err }, 'renewing the server lease failed');
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), this.periodMs);
    this.timer.unref();
  }

  private async registerAll(lapsed: boolean): Promise<boolean> {
    const all = [...this.opts.registrants()];
    if (lapsed && all.length > 0) this.opts.log.warn({ connections: all.length }, 'server lease had lapsed: registering every connection again');
    const done = await Promise.all(all.map((r) => r.reregister()));
    return done.every(Boolean);
  }
}

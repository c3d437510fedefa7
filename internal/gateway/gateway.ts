import { ClientConnection, type FrameSink } from './client-connection';
import type { GatewayContext } from './gateway-context';
import { KeyedTokenBuckets } from './rate-limiter';
import { ResumeSlots } from './resume-slots';
import { ServerLease } from './server-lease';

/**
 * The edge of one chat server: creates client connections for the transports, keeps this
 * server's lease at the session service (which keeps all its connections live) and its presence
 * watches renewed (presence changes, typing indicators and receipts come to
 * its connections through the server's inbox, not a bus topic every server reads), closes
 * connections past a deadline (hello, heartbeat, token expiry), and drains on shutdown.
 */
export class Gateway {
  private readonly live = new Set<ClientConnection>();
  private sweepTimer?: NodeJS.Timeout;
  private draining = false;
  /** Sends per user over all its connections to this server (a user cannot multiply its rate by connecting more). */
  private readonly userSends: KeyedTokenBuckets;
  /** Resume replays reading history at once (CHAT_RESUME_CONCURRENCY), over all connections. */
  private readonly resumeSlots: ResumeSlots;
  private readonly lease: ServerLease;

  constructor(readonly ctx: GatewayContext) {
    const { sendRatePerSec, sendBurst, userSendRatePerSec, userSendBurst } = ctx.limits;
    this.userSends = new KeyedTokenBuckets(userSendRatePerSec ?? 2 * sendRatePerSec, userSendBurst ?? 2 * sendBurst, ctx.now);
    this.resumeSlots = new ResumeSlots(ctx.limits.resumeConcurrency);
    this.lease = new ServerLease({ serverId: ctx.serverId, sessions: ctx.sessions, registrants: () => this.live, log: ctx.log });
  }

  /** Takes the server's lease, then starts the timers: lease and presence watch renewals, deadline sweeps. */
  async start(): Promise<void> {
    await this.lease.start();
    this.ctx.presenceWatches.start();
    const { heartbeatIntervalMs, handshakeTimeoutMs } = this.ctx.limits;
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(250, Math.floor(Math.min(heartbeatIntervalMs, handshakeTimeoutMs) / 5)));
    this.sweepTimer.unref();
  }

  /** A new transport connection; undefined while draining (the transport refuses it). */
  open(sink: FrameSink, transportToken?: string): ClientConnection | undefined {
    if (this.draining) return undefined;
    const conn = new ClientConnection(this.ctx, sink, transportToken, { userSends: this.userSends, resumeSlots: this.resumeSlots });
    this.live.add(conn);
    return conn;
  }

  async closed(conn: ClientConnection): Promise<void> {
    this.live.delete(conn);
    await conn.closed();
  }

  get connectionCount(): number {
    return this.live.size;
  }

  /**
   * Tells every client to go away, waits (bounded) for them to leave, then writes the acks not
   * written yet (AckBatcher), before the caller closes the stores and the bus they go to.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    clearInterval(this.sweepTimer);
    this.ctx.presenceWatches.stop();
    this.lease.stop();
    for (const conn of this.live) conn.shutdown('going_away', 'server shutting down', true);
    const deadline = Date.now() + graceMs;
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.live].map((c) => this.closed(c)));
    await this.ctx.acks.close();
  }

  /** Closes the connections past a deadline (hello, heartbeat, token expiry): one timer for all. */
  private sweep(): void {
    this.userSends.prune();
    const now = this.ctx.now();
    for (const conn of this.live) conn.checkDeadlines(now);
  }
}

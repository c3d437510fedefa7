import type { Bus, Subscription } from '../bus/bus';
import { EPHEMERAL_TOPIC, decodeEphemeral, ephemeralFrame } from '../ephemeral/ephemeral-events';
import { PRESENCE_TOPIC, decodePresence } from '../session/presence-topic';
import { ClientConnection, type FrameSink } from './client-connection';
import type { GatewayContext } from './gateway-context';
import { KeyedTokenBuckets } from './rate-limiter';

/**
 * The edge of one chat server: creates client connections for the transports, fans presence
 * changes, typing indicators and receipts from the bus out to its own connections, closes
 * connections past a deadline (hello, heartbeat, token expiry), and drains on shutdown.
 */
export class Gateway {
  private readonly live = new Set<ClientConnection>();
  private presenceSub?: Subscription;
  private ephemeralSub?: Subscription;
  private sweepTimer?: NodeJS.Timeout;
  private draining = false;
  /** Sends per user over all its connections to this server (a user cannot multiply its rate by connecting more). */
  private readonly userSends: KeyedTokenBuckets;

  constructor(
    readonly ctx: GatewayContext,
    private readonly bus: Bus,
  ) {
    const { sendRatePerSec, sendBurst, userSendRatePerSec, userSendBurst } = ctx.limits;
    this.userSends = new KeyedTokenBuckets(userSendRatePerSec ?? 2 * sendRatePerSec, userSendBurst ?? 2 * sendBurst, ctx.now);
  }

  /**
   * Resolves once presence changes, typing indicators and receipts published from now on will
   * reach this server's connections.
   */
  async start(): Promise<void> {
    this.presenceSub = this.bus.subscribe(PRESENCE_TOPIC, (r) => this.ctx.registry.publishPresence(decodePresence(r.payload)));
    this.ephemeralSub = this.bus.subscribe(EPHEMERAL_TOPIC, (r) => this.deliverEphemeral(r.payload));
    await Promise.all([this.presenceSub.ready, this.ephemeralSub.ready]);
    const { heartbeatIntervalMs, handshakeTimeoutMs } = this.ctx.limits;
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(250, Math.floor(Math.min(heartbeatIntervalMs, handshakeTimeoutMs) / 5)));
    this.sweepTimer.unref();
  }

  /** A new transport connection; undefined while draining (the transport refuses it). */
  open(sink: FrameSink, transportToken?: string): ClientConnection | undefined {
    if (this.draining) return undefined;
    const conn = new ClientConnection(this.ctx, sink, transportToken, this.userSends);
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
    await Promise.all([this.presenceSub?.close(), this.ephemeralSub?.close()]);
    for (const conn of this.live) conn.shutdown('going_away', 'server shutting down', true);
    const deadline = Date.now() + graceMs;
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.live].map((c) => this.closed(c)));
    await this.ctx.acks.close();
  }

  /** A record of `chat.ephemeral.v1`; one that does not decode is logged and dropped, not retried. */
  private deliverEphemeral(payload: Uint8Array): void {
    let event;
    try {
      event = decodeEphemeral(payload);
    } catch (err) {
      this.ctx.log.warn({ err }, 'undecodable ephemeral event dropped');
      return;
    }
    const frame = ephemeralFrame(event);
    if (frame) this.ctx.registry.deliverEphemeral(frame, event.recipientIds, event.excludeSessionId);
  }

  /** Closes the connections past a deadline (hello, heartbeat, token expiry): one timer for all. */
  private sweep(): void {
    this.userSends.prune();
    const now = this.ctx.now();
    for (const conn of this.live) conn.checkDeadlines(now);
  }
}

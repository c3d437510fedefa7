import type { Logger } from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import type { RelayDelivery } from '../../gen/chat/v1/relay';
import type { Delivery } from '../chat/delivery';
import type { ConnectionRegistry } from '../gateway/connection-registry';
import type { Sessions } from '../session/sessions';
import type { ChatMetrics } from '../telemetry/metrics';
import { secondsSince } from '../telemetry/metrics';
import { injectTraceContext } from '../telemetry/trace-context';
import type { RelayRouter } from './relay-router';

export interface MeshDeliveryOptions {
  serverId: string;
  registry: ConnectionRegistry;
  sessions: Pick<Sessions, 'locate'>;
  router: RelayRouter;
  metrics: Pick<ChatMetrics, 'deliveries' | 'deliveryLatency' | 'locateRetries'>;
  log: Logger;
  /** CHAT_DELIVERY_LOCATE_RETRY_MS: how long a delivery whose recipients could not be located is retried. */
  locateRetryMs: number;
}

/** The first retry of a failed locate waits this long, then twice as long each time, up to {@link LOCATE_RETRY_MAX_DELAY_MS}. */
const LOCATE_RETRY_FIRST_DELAY_MS = 250;
const LOCATE_RETRY_MAX_DELAY_MS = 2_000;

/**
 * Delivery on a chat server of the mesh: this server's own connections at once, then one relay
 * delivery per other server that holds recipients (found through the session service), so a
 * 500-member group costs one relay entry per server, not one per member.
 */
export class MeshDelivery implements Delivery {
  constructor(private readonly opts: MeshDeliveryOptions) {}

  deliver(message: ChatMessage, recipientIds: readonly string[], excludeSessionId?: string): void {
    const pushed = this.opts.registry.deliverLocal(message, recipientIds, excludeSessionId);
    if (pushed > 0) {
      this.opts.metrics.deliveries.inc({ path: 'local' }, pushed);
      this.opts.metrics.deliveryLatency.observe({ path: 'local' }, secondsSince(message.createdAt ?? Date.now()));
    }
    const traceContext = injectTraceContext();
    this.relayRetrying(message, recipientIds, excludeSessionId ?? '', traceContext).catch((err: unknown) =>
      this.opts.log.error({ err, messageId: message.messageId, retriedMs: this.opts.locateRetryMs }, 'cannot locate recipients; their devices get the message on their next resume'),
    );
  }

  /**
   * A locate that fails (the session service past its deadline in a burst, or restarting) is tried
   * again, backing off, for up to `locateRetryMs`: a recipient's connected device would otherwise
   * see the message only when it next reconnects. Late is safe: clients place it by its seq, and
   * a connection is pushed a message once.
   */
  private async relayRetrying(message: ChatMessage, recipientIds: readonly string[], excludeSessionId: string, traceContext: Record<string, string>): Promise<void> {
    const deadline = Date.now() + this.opts.locateRetryMs;
    for (let delay = LOCATE_RETRY_FIRST_DELAY_MS; ; delay = Math.min(2 * delay, LOCATE_RETRY_MAX_DELAY_MS)) {
      try {
        return await this.relay(message, recipientIds, excludeSessionId, traceContext);
      } catch (err) {
        if (Date.now() + delay > deadline) throw err;
        this.opts.metrics.locateRetries.inc();
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async relay(message: ChatMessage, recipientIds: readonly string[], excludeSessionId: string, traceContext: Record<string, string>): Promise<void> {
    const byServer = new Map<string, { address: string; users: Set<string> }>();
    for (const c of await this.opts.sessions.locate(recipientIds)) {
      if (c.serverId === this.opts.serverId) continue;
      const entry = byServer.get(c.serverId) ?? { address: c.serverAddress, users: new Set<string>() };
      entry.users.add(c.userId);
      byServer.set(c.serverId, entry);
    }
    for (const [serverId, { address, users }] of byServer) {
      const delivery: RelayDelivery = { message, recipientUserIds: [...users], excludeSessionId, traceContext };
      this.opts.router.send(serverId, address, delivery);
    }
  }
}

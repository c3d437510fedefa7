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
  metrics: ChatMetrics;
  log: Logger;
}

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
    this.relay(message, recipientIds, excludeSessionId ?? '', traceContext).catch((err: unknown) =>
      this.opts.log.error({ err, messageId: message.messageId }, 'cannot locate recipients; they catch up from history'),
    );
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

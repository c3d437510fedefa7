import type { RelayDelivery } from '../../gen/chat/v1/relay';
import type { ConnectionRegistry } from '../gateway/connection-registry';
import type { ChatMetrics, DeliveryPath } from '../telemetry/metrics';
import { secondsSince } from '../telemetry/metrics';
import { withRemoteParent } from '../telemetry/trace-context';

/**
 * The receiving end of both remote paths (relay stream and Kafka fallback): push a delivery to
 * this server's connections of its recipients, inside the sender's trace.
 */
export function pushDelivery(registry: ConnectionRegistry, metrics: ChatMetrics, path: Exclude<DeliveryPath, 'local'>, d: RelayDelivery): void {
  const message = d.message;
  if (!message) return;
  void withRemoteParent(d.traceContext, `chat.deliver.${path}`, () => {
    registry.deliverLocal(message, d.recipientUserIds, d.excludeSessionId || undefined);
    metrics.deliveryLatency.observe({ path }, secondsSince(message.createdAt ?? Date.now()));
    return Promise.resolve();
  }, { 'chat.message_id': message.messageId, 'chat.recipients': d.recipientUserIds.length });
}

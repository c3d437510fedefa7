import type { RelayDelivery } from '../../gen/chat/v1/relay';
import type { ConnectionRegistry } from '../gateway/connection-registry';
import type { ChatMetrics } from '../telemetry/metrics';
import { secondsSince } from '../telemetry/metrics';
import { withRemoteParent } from '../telemetry/trace-context';
import type { RemotePath } from './server-inbox';

/**
 * The receiving end of both remote paths (relay stream and Kafka fallback), for a chat server's
 * inbox: pushes every delivery of one relay batch or fallback record, in order, to this server's
 * connections of its recipients, inside the sender's trace when the sender traced the send, with
 * the clock read once for the batch.
 */
export function pushDeliveries(registry: ConnectionRegistry, metrics: ChatMetrics, path: RemotePath, deliveries: readonly RelayDelivery[]): void {
  const nowMs = Date.now();
  for (const d of deliveries) push(registry, metrics, path, d, nowMs);
}

/**
 * A delivery without a trace context (the sender traced nothing) is pushed without a span: a
 * span of its own would be a root that says nothing, and costs a context, a span and a promise
 * per delivery on the hottest path of the receiving server.
 */
function push(registry: ConnectionRegistry, metrics: ChatMetrics, path: RemotePath, d: RelayDelivery, nowMs: number): void {
  const message = d.message;
  if (!message) return;
  const deliver = () => {
    registry.deliverLocal(message, d.recipientUserIds, d.excludeSessionId || undefined);
    metrics.deliveryLatency.observe({ path }, secondsSince(message.createdAt ?? nowMs, nowMs));
  };
  if (isEmpty(d.traceContext)) return deliver();
  void withRemoteParent(d.traceContext, `chat.deliver.${path}`, () => Promise.resolve(deliver()), { 'chat.message_id': message.messageId, 'chat.recipients': d.recipientUserIds.length });
}

function isEmpty(carrier: Readonly<Record<string, string>> | undefined): boolean {
  if (!carrier) return true;
  for (const _ in carrier) return false;
  return true;
}

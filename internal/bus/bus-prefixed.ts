import type { BatchSubscribeOptions, Bus, BusBatchHandler, BusHandler, PublishOptions, SubscribeOptions, Subscription } from './bus';

/**
 * A Bus whose topic names all start with `prefix`, so deployments (or test runs) sharing one
 * Kafka cluster never see each other's records. Handlers see the names without the prefix.
 */
export function prefixedBus(bus: Bus, prefix: string): Bus {
  if (!prefix) return bus;
  return {
    publish: (topic: string, key: string, payload: Uint8Array, options?: PublishOptions) => bus.publish(prefix + topic, key, payload, options),
    subscribe: (topic: string, handler: BusHandler, options?: SubscribeOptions): Subscription =>
      bus.subscribe(prefix + topic, (record) => handler({ ...record, topic: record.topic.slice(prefix.length) }), options),
    subscribeBatch: (topic: string, handler: BusBatchHandler, options: BatchSubscribeOptions): Subscription =>
      bus.subscribeBatch(prefix + topic, (records) => handler(records.map((r) => ({ ...r, topic: r.topic.slice(prefix.length) }))), options),
    close: () => bus.close(),
  };
}

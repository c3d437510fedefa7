/** One record on a topic. */
export interface BusRecord {
  topic: string;
  /** Partitioning key (a conversation id, a user id): records of one key keep their order. */
  key: string;
  payload: Uint8Array;
}

export type BusHandler = (record: BusRecord) => Promise<void> | void;

export interface Subscription {
  close(): void;
}

/**
 * Bus carries records between components: in-process in `chatd` (MemoryBus), Kafka in the mesh.
 *
 * Guarantees implementers keep:
 * - `publish` resolves once the record is accepted by the bus (for Kafka: acknowledged by all
 *   in-sync replicas); a rejected publish rejects, never silently drops.
 * - Every subscription of a topic receives every record published after it subscribed
 *   (broadcast), records of one key in publish order, each handler call finishing before the next
 *   starts for that subscription.
 * - A handler that throws does not stop the subscription: the record is logged and skipped
 *   (a poison record is parked, never a crash loop).
 */
export interface Bus {
  publish(topic: string, key: string, payload: Uint8Array): Promise<void>;
  subscribe(topic: string, handler: BusHandler): Subscription;
  close(): Promise<void>;
}

/** One record on a topic. */
export interface BusRecord {
  topic: string;
  /** Partitioning key (a conversation id, a user id): records of one key keep their order. */
  key: string;
  payload: Uint8Array;
  /** Small string metadata carried with the record (trace context; why a record was parked). */
  headers?: Readonly<Record<string, string>>;
}

export type BusHandler = (record: BusRecord) => Promise<void> | void;

/** Handles a run of consecutive records at once (see {@link Bus.subscribeBatch}). */
export type BusBatchHandler = (records: BusRecord[]) => Promise<void> | void;

export interface PublishOptions {
  headers?: Readonly<Record<string, string>>;
  /** Bound on this publish; the adapter's configured publish timeout when absent. */
  timeoutMs?: number;
}

export interface SubscribeOptions {
  /**
   * Competing consumers: each record goes to one live subscription of the group, and the group
   * remembers its position while no subscription is live. Without a group: broadcast.
   */
  group?: string;
  /**
   * Start from the oldest retained record instead of the newest. For a group this applies only
   * the first time the group is seen; afterwards it resumes where it left off.
   */
  fromBeginning?: boolean;
}

export interface BatchSubscribeOptions extends SubscribeOptions {
  /**
   * Records per handler call at most (a positive integer). A batch holds what is waiting when the
   * handler is free, up to this many; it waits for more only as `lingerMs` allows.
   */
  maxBatch: number;
  /**
   * How long a batch that is not full may wait for more records to join it, in ms (default 0:
   * hand over what waited, at once). Fewer, fuller batches for a consumer whose cost is per batch,
   * at up to this much latency; a full batch never waits. A hint: an adapter may wait less (the
   * MemoryBus, where handing over costs nothing, never waits).
   */
  lingerMs?: number;
}

export interface Subscription {
  /**
   * Resolves once the subscription will see every record published from then on (for Kafka: the
   * consumer joined its group and its partitions are assigned and positioned). Rejects when the
   * subscription could not be set up in the adapter's bounded time; it is then closed.
   */
  readonly ready: Promise<void>;
  /**
   * Stops deliveries and leaves the group. A record whose handler has not resolved by then is not
   * acknowledged and is redelivered to the group (a handler call in flight is not cancelled).
   */
  close(): Promise<void>;
}

/**
 * Bus carries records between components: in-process in `chatd` (MemoryBus), Kafka in the mesh.
 *
 * Guarantees implementers keep:
 * - `publish` resolves once the record is accepted by the bus (for Kafka: acknowledged by all
 *   in-sync replicas); a rejected or timed-out publish rejects, never silently drops. A publish
 *   that timed out may still have been written: consumers are idempotent (at-least-once).
 * - Records of one key are handled in publish order by each subscription that receives them (a
 *   record published after another one's publish resolved comes after it; publishes in flight
 *   together have no order between them), and a subscription's handler calls never overlap.
 * - Broadcast (no group): every subscription receives every record published after its `ready`.
 * - Group: every record published after the first subscription of the group was ready is handled
 *   by one subscription of the group at least once; the record is acknowledged (for Kafka: its
 *   offset committed) only after the handler resolved, so a subscription that closes or dies
 *   mid-record leaves it to another. Duplicates happen only around such failures.
 * - A handler that throws is called again for the same record, in place (keeping per-key order),
 *   with backoff, up to the adapter's delivery policy ({@link DeliveryPolicy}). A record that still
 *   fails is logged and parked: published to `<topic>.parked` ({@link parkedTopic}) with the
 *   {@link PARKED_HEADERS}, then acknowledged, so the subscription moves on (no crash loop).
 *
 * Batch subscriptions ({@link Bus.subscribeBatch}) keep all of the above, per batch:
 * - A batch is a run of consecutive records of the subscription, possibly of several keys; the
 *   records of one key are in publish order within a batch and across batches. Handler calls
 *   never overlap.
 * - Group: the records of a batch are acknowledged only after the handler resolved for the whole
 *   batch (a subscription that closes mid-batch leaves all of it to another subscription).
 * - A handler that throws is called again with the same batch, in place, with backoff, up to
 *   `maxAttempts`. A batch that still fails is split: each of its records is handed to the handler
 *   alone (a batch of one), in order, under the per-record policy above, so only the records that
 *   keep failing by themselves are parked and the others are handled. A record can thus reach the
 *   handler several times (in the failed batch, then alone): handlers are idempotent anyway.
 */
export interface Bus {
  publish(topic: string, key: string, payload: Uint8Array, options?: PublishOptions): Promise<void>;
  subscribe(topic: string, handler: BusHandler, options?: SubscribeOptions): Subscription;
  /**
   * Like `subscribe`, but the handler gets up to `options.maxBatch` records per call, so a
   * consumer that writes to a store pays per batch rather than per record.
   * @throws RangeError when `maxBatch` is not a positive integer or `lingerMs` is negative.
   */
  subscribeBatch(topic: string, handler: BusBatchHandler, options: BatchSubscribeOptions): Subscription;
  /** Closes every subscription and connection; the bus is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * How often a failing handler is called for one record (or one batch) before that record is
 * parked (or that batch split into records).
 */
export interface DeliveryPolicy {
  /** Handler calls per record, or per batch before it is split, at least 1. */
  maxAttempts: number;
  /** Wait before the second call; doubles per further call, capped at `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = { maxAttempts: 3, backoffMs: 100, maxBackoffMs: 2_000 };

/** Where records whose handler kept failing on `topic` go. */
export function parkedTopic(topic: string): string {
  return `${topic}${PARKED_SUFFIX}`;
}

/** True for a `<topic>.parked` topic; records failing there are logged and dropped, not parked again. */
export function isParkedTopic(topic: string): boolean {
  return topic.endsWith(PARKED_SUFFIX);
}

const PARKED_SUFFIX = '.parked';

/** Headers a parked record carries besides its own. */
export const PARKED_HEADERS = {
  /** The topic the record was consumed from. */
  topic: 'chat-parked-topic',
  /** The group that gave up on it, or `broadcast`. */
  group: 'chat-parked-group',
  /** How many times the handler was called. */
  attempts: 'chat-parked-attempts',
  /** The last handler error's message (internal topic: operators read it, clients never do). */
  error: 'chat-parked-error',
} as const;

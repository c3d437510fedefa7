import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { EventLoopStalls } from './event-loop-stalls';

/** How a message reached a recipient's chat server. */
export type DeliveryPath = 'local' | 'relay' | 'fallback';
/**
 * Why deliveries went to the Kafka delivery topic instead of a relay stream: the peer has no relay
 * address, its stream is down (or backing off after a failure), it stopped answering (ack
 * timeout), its relay queue was full (a live peer further behind than the queue holds), or the
 * relay is switched off.
 */
export type FallbackReason = 'unknown_peer' | 'stream_down' | 'ack_timeout' | 'queue_full' | 'relay_off';

/**
 * What a chat server's inbox is handed (server-inbox.ts): messages for its connections, typing and
 * receipt events, presence changes of users it watches, users whose connections changed among
 * those it located.
 */
export type InboxItemKind = 'delivery' | 'event' | 'presence' | 'connections_changed';

export const DELIVERY_PATHS: readonly DeliveryPath[] = ['local', 'relay', 'fallback'];
export const INBOX_ITEM_KINDS: readonly InboxItemKind[] = ['delivery', 'event', 'presence', 'connections_changed'];
/** The paths into a server's inbox: a peer's relay stream, or the server's Kafka delivery topic. */
export const INBOX_PATHS: readonly Exclude<DeliveryPath, 'local'>[] = ['relay', 'fallback'];
export const FALLBACK_REASONS: readonly FallbackReason[] = ['unknown_peer', 'stream_down', 'ack_timeout', 'queue_full', 'relay_off'];
export const SEND_RESULTS = ['ok', 'error'] as const;
export const RELAY_BATCH_RESULTS = ['acked', 'failed'] as const;
export const SYNC_WRITE_RESULTS = ['created', 'duplicate', 'error'] as const;

/** Seconds, 0.5 ms to 5 s: end-to-end delivery on one machine is milliseconds, across a fallback up to seconds. */
export const DELIVERY_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
export const RELAY_BATCH_MESSAGES_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500];
/** Seconds; a sync worker catching up after a restart lags by minutes, hence the long tail. */
export const SYNC_LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface ChatMetricsOptions {
  /** Value of the `service` label on every sample (`chat-server`, `sync-worker`, ...). */
  service: string;
  /** Value of the `instance` label on every sample (the server id, or host/pid). */
  instance: string;
  /** Node process metrics (CPU, memory, event loop lag, GC, handles). Default true. */
  processMetrics?: boolean;
  /**
   * Event-loop delay and GC pause histograms at millisecond resolution (see EventLoopStalls).
   * Default false: the sampling costs a libuv timer every millisecond. {@link ChatMetrics.close} stops it.
   */
  stallMetrics?: boolean;
}

/**
 * The metrics of one chat process, on a registry of its own (never prom-client's global one, so two
 * instances in one test process do not collide). Every sample carries `service` and `instance`.
 * Every labelled series starts at zero for each of its label values, so a scrape shows
 * `chat_deliveries_total{path="fallback"} 0` before the first fallback (tests and `rate()` need
 * the series to exist).
 *
 * Units: seconds for durations; counters count messages per recipient user where they say so.
 */
export class ChatMetrics {
  readonly registry = new Registry();

  /** Live client connections (WebSocket and gRPC) on this chat server. */
  readonly connections: Gauge;
  /** Client `send` frames answered: `ok` (acked) or `error` (an error frame). */
  readonly sends: Counter<'result'>;
  /** Sends whose id was behind their conversation's newest (another server's clock ahead), retried with a newer id. */
  readonly sendsBehind: Counter;
  /** Deliveries whose recipients could not be located, tried again (CHAT_DELIVERY_LOCATE_RETRY_MS). */
  readonly locateRetries: Counter;
  /** One per message per recipient user handed to that path (local push, relay batch, fallback topic). */
  readonly deliveries: Counter<'path'>;
  /** Relay batches sent to a peer: `acked` by it, or `failed` (then they go to the fallback). */
  readonly relayBatches: Counter<'result'>;
  /**
   * Items handed to this server's inbox, by kind and by the path they came (relay stream or Kafka
   * delivery topic): what this server consumes of the mesh's traffic. It depends on the server's
   * own connections and their interests, not on the number of servers (ARCHITECTURE.md).
   */
  readonly inboxItems: Counter<'kind' | 'path'>;
  /** Messages per relay batch sent. */
  readonly relayBatchMessages: Histogram;
  /**
   * Deliveries waiting in relay queues (every peer of this server) for a free window slot, a
   * writable stream or the flush timer; read at scrape time from {@link trackRelayQueue}.
   */
  readonly relayQueued: Gauge;
  /** Batches published to a peer's Kafka delivery topic, by why the relay was not used. */
  readonly fallbackBatches: Counter<'reason'>;
  /** Seconds from a message's created_at to its push to a recipient's connection, by path. */
  readonly deliveryLatency: Histogram<'path'>;
  /** Sync worker writes to Cassandra: `created`, `duplicate` (already there), `error`. */
  readonly syncWrites: Counter<'result'>;
  /** Seconds from a message's created_at to its write by the sync worker. */
  readonly syncLag: Histogram;

  private readonly relayQueues = new Set<() => number>();
  /** gRPC calls this process served, by method (a stream counts once, when it opens). */
  readonly rpcCalls: Counter<'method'>;
  /** Requests this process's Kafka clients sent to brokers, by API (Produce, Fetch, Heartbeat, …). */
  readonly kafkaRequests: Counter<'api'>;
  /** chat_event_loop_delay_seconds and chat_gc_pause_seconds, when asked for. */
  private readonly stalls?: EventLoopStalls;

  constructor(opts: ChatMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ service: opts.service, instance: opts.instance });
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.connections = new Gauge({ name: 'chat_connections', help: 'Live client connections on this chat server.', registers });
    this.sends = new Counter({ name: 'chat_sends_total', help: 'Client sends answered, by result.', labelNames: ['result'], registers });
    this.locateRetries = new Counter({ name: 'chat_locate_retries_total', help: 'Locates of a delivery\'s recipients that failed and were tried again.', registers });
    this.sendsBehind = new Counter({ name: 'chat_sends_behind_total', help: "Send attempts whose id was behind their conversation's newest (another server's clock ahead), retried with a newer id.", registers });
    this.deliveries = new Counter({ name: 'chat_deliveries_total', help: 'Messages handed to a delivery path, one per recipient user.', labelNames: ['path'], registers });
    this.relayBatches = new Counter({ name: 'chat_relay_batches_total', help: 'Relay batches sent to peer chat servers, by result.', labelNames: ['result'], registers });
    this.inboxItems = new Counter({ name: 'chat_inbox_items_total', help: "Items handed to this chat server's inbox (deliveries, events, presence changes, connection changes), by kind and path.", labelNames: ['kind', 'path'], registers });
    this.relayBatchMessages = new Histogram({ name: 'chat_relay_batch_messages', help: 'Deliveries and typing/receipt events per relay batch.', buckets: RELAY_BATCH_MESSAGES_BUCKETS, registers });
    const relayQueues = this.relayQueues;
    this.relayQueued = new Gauge({
      name: 'chat_relay_queued_deliveries',
      help: 'Deliveries waiting in relay queues to peer chat servers.',
      registers,
      // Summed at scrape time: the send path pays nothing for this gauge.
      collect() {
        let n = 0;
        for (const queued of relayQueues) n += queued();
        this.set(n);
      },
    });
    this.fallbackBatches = new Counter({ name: 'chat_fallback_batches_total', help: 'Batches sent through Kafka instead of the relay, by reason.', labelNames: ['reason'], registers });
    this.deliveryLatency = new Histogram({ name: 'chat_delivery_latency_seconds', help: 'Message created_at to push to a connection, seconds.', labelNames: ['path'], buckets: DELIVERY_LATENCY_BUCKETS, registers });
    this.syncWrites = new Counter({ name: 'chat_sync_writes_total', help: 'Sync worker writes to the history store, by result.', labelNames: ['result'], registers });
    this.kafkaRequests = new Counter({ name: 'chat_kafka_requests_total', help: 'Kafka requests sent to brokers, by API.', labelNames: ['api'], registers });
    this.rpcCalls = new Counter({ name: 'chat_rpc_calls_total', help: 'gRPC calls served, by method; a stream counts once.', labelNames: ['method'], registers });
    this.syncLag = new Histogram({ name: 'chat_sync_lag_seconds', help: 'Message created_at to its history write, seconds.', buckets: SYNC_LAG_BUCKETS, registers });

    for (const result of SEND_RESULTS) this.sends.inc({ result }, 0);
    for (const path of DELIVERY_PATHS) {
      this.deliveries.inc({ path }, 0);
      this.deliveryLatency.zero({ path });
    }
    for (const kind of INBOX_ITEM_KINDS) for (const path of INBOX_PATHS) this.inboxItems.inc({ kind, path }, 0);
    for (const result of RELAY_BATCH_RESULTS) this.relayBatches.inc({ result }, 0);
    for (const reason of FALLBACK_REASONS) this.fallbackBatches.inc({ reason }, 0);
    for (const result of SYNC_WRITE_RESULTS) this.syncWrites.inc({ result }, 0);
    if (opts.stallMetrics) this.stalls = new EventLoopStalls({ registry: this.registry });
  }

  /** Stops the stall sampling (a no-op without it); the metrics keep their last values. */
  close(): void {
    this.stalls?.stop();
  }

  /** Counts `queued()` into {@link relayQueued} at every scrape, until the returned function is called. */
  trackRelayQueue(queued: () => number): () => void {
    this.relayQueues.add(queued);
    return () => this.relayQueues.delete(queued);
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content-Type of {@link text} (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Seconds from `createdAt` (a Date, an ISO string or epoch ms) to `nowMs`, never negative (clocks of
 * two machines disagree a little): the value for {@link ChatMetrics.deliveryLatency} and
 * {@link ChatMetrics.syncLag}.
 */
export function secondsSince(createdAt: Date | string | number, nowMs = Date.now()): number {
  const ms = createdAt instanceof Date ? createdAt.getTime() : typeof createdAt === 'string' ? Date.parse(createdAt) : createdAt;
  if (!Number.isFinite(ms)) return 0;
  return Math.max(0, (nowMs - ms) / 1000);
}

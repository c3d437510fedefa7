import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel, type Admin, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import {
  DEFAULT_DELIVERY_POLICY,
  type BatchSubscribeOptions,
  type Bus,
  type BusBatchHandler,
  type BusHandler,
  type DeliveryPolicy,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from './bus';
import { inBatches, perRecord, type Dispatch } from './bus-delivery';
import { kafkaLogCreator } from './kafka-log';
import { KafkaSubscription, type KafkaSubscriptionDeps } from './kafka-subscription';
import { KnownTopics, type TopicSpec } from './kafka-topics';
import { withDeadline } from '../deadline/with-deadline';
import { fixKafkajsRequestQueue } from './kafkajs-request-queue';

// Before any client connects: kafkajs 2.2.4 spins a 1 ms timer per idle broker connection.
fixKafkajsRequestQueue();

/** Bounds on every call the Kafka bus makes. */
export interface KafkaBusTimeouts {
  /** One TCP connection to a broker. */
  connectMs: number;
  /** One broker request; also the broker's wait for in-sync replicas on a publish. */
  requestMs: number;
  /** `KafkaBus.start`: reaching the cluster, creating the configured topics, the producer. */
  startupMs: number;
  /** A publish without its own `timeoutMs`, retries included. */
  publishMs: number;
  /** A subscription's `ready`: topic, group join, positioning. */
  subscribeMs: number;
  /** How long `close` lets an in-flight handler finish (so its record is committed). */
  closeGraceMs: number;
}

/**
 * Consumer group timing. A chat server holds several consumers, most of them idle most of the
 * time, so the defaults make an idle consumer cheap without making a busy one slower:
 * - A fetch asks for at least 1 byte (minBytes), so the broker answers as soon as a record is
 *   there: the long-poll bound `maxWaitTimeMs` adds no latency to a record, it only sets how often
 *   an idle consumer asks again (one fetch, and one heartbeat, per 3 s by default).
 * - kafkajs heartbeats between fetches (and our handlers heartbeat while they run), throttled to
 *   `heartbeatIntervalMs`; an idle consumer thus heartbeats once per fetch.
 * What a long poll does cost (kafkajs cannot cut one short): closing a consumer, a rebalance
 * reaching an idle member, and the first fetch after a subscription positioned its partitions
 * each wait up to `maxWaitTimeMs`. The session timeout stays above the longest gap between
 * heartbeats (a poll, then one handler heartbeat interval) with room for a slow broker.
 */
export interface KafkaConsumerTuning {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  /** Fetch long-poll bound; heartbeats, rebalance notices and `close` wait for it. */
  maxWaitTimeMs: number;
}

export interface KafkaBusOptions {
  brokers: readonly string[];
  clientId: string;
  log: Logger;
  /** Topics created at startup if missing (the message log, with its partitions and RF). */
  topics?: readonly TopicSpec[];
  /** Layout of topics first used later (per-server delivery topics, `.parked`). Default 3 x RF 1. */
  defaultTopic?: Omit<TopicSpec, 'topic'>;
  timeouts?: Partial<KafkaBusTimeouts>;
  consumer?: Partial<KafkaConsumerTuning>;
  delivery?: DeliveryPolicy;
  /** Retries of one kafkajs operation (connect, send, commit) before it fails. Default 5. */
  retries?: number;
  /** Called for every request this bus's clients send to a broker, with its API (Produce, Fetch, Heartbeat…): for counting. */
  onRequest?: (apiName: string) => void;
  /**
   * How long a publish waits for others to share its produce request when none is in flight
   * (Kafka's linger.ms). 0: the records of one event-loop turn go together. Default 0.
   */
  lingerMs?: number;
}

export const DEFAULT_KAFKA_TIMEOUTS: KafkaBusTimeouts = {
  connectMs: 3_000,
  requestMs: 10_000,
  startupMs: 15_000,
  publishMs: 10_000,
  subscribeMs: 30_000,
  closeGraceMs: 5_000,
};

export const DEFAULT_KAFKA_CONSUMER: KafkaConsumerTuning = {
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 3_000,
  rebalanceTimeoutMs: 30_000,
  maxWaitTimeMs: 3_000,
};

/**
 * The Bus on Apache Kafka (kafkajs). Publishing goes through one producer (acks=-1, one request
 * in flight, concurrent publishes batched into it), so records of one key land in one partition in
 * publish order. A failed batch is produced again whole (produceWhole): a record may then be in
 * the log twice, never silently missing. A group subscription is a consumer of that group; a
 * broadcast subscription is a consumer of a group of its own (deleted on close). Topics are created
 * at startup ({@link KafkaBusOptions.topics}) or on first use with the default layout. See
 * {@link KafkaSubscription} for positioning and commits.
 */
export class KafkaBus implements Bus {
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly topics: KnownTopics;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private readonly timeouts: KafkaBusTimeouts;
  private readonly deps: KafkaSubscriptionDeps;
  private readonly brokerList: string;
  private readonly log: Logger;
  private closed = false;
  private readonly outbox: Outgoing[] = [];
  /** How a failed produce is retried (the whole batch). */
  private readonly produceRetry: { initialRetryTime: number; maxRetryTime: number; retries: number };
  private producing = false;

  private constructor(private readonly options: KafkaBusOptions) {
    this.timeouts = { ...DEFAULT_KAFKA_TIMEOUTS, ...options.timeouts };
    const tuning = { ...DEFAULT_KAFKA_CONSUMER, ...options.consumer };
    this.brokerList = options.brokers.join(',');
    this.log = options.log.child({ component: 'kafka-bus' });
    const retry = { initialRetryTime: 200, maxRetryTime: 2_000, retries: options.retries ?? 5 };
    this.produceRetry = retry;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      connectionTimeout: this.timeouts.connectMs,
      requestTimeout: this.timeouts.requestMs,
      enforceRequestTimeout: true,
      retry,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(this.log),
    });
    this.admin = this.kafka.admin({ retry });
    this.producer = this.kafka.producer({
      // Not kafkajs' idempotent producer: it requires kafkajs' own retries, and kafkajs' retry of a
      // batch that spans brokers drops the partitions whose leadership moved to a broker that had
      // already answered (sendMessages keeps one answer per broker) and resolves as if all were
      // written. Retries are produceWhole's: the whole batch again. One request in flight keeps
      // per-key order; a record a failed attempt did write may be in the log twice.
      idempotent: false,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // murmur2, as the Java client: a key maps to the same partition whichever client wrote it.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { ...retry, retries: 0 },
    });
    const onRequest = options.onRequest;
    if (onRequest) {
      this.admin.on(this.admin.events.REQUEST, (e) => onRequest(e.payload.apiName));
      this.producer.on(this.producer.events.REQUEST, (e) => onRequest(e.payload.apiName));
    }
    this.topics = new KnownTopics(this.admin, options.defaultTopic ?? { numPartitions: 3, replicationFactor: 1 }, {
      timeoutMs: this.timeouts.requestMs,
      log: this.log,
    });
    this.deps = {
      kafka: this.kafka,
      admin: this.admin,
      topics: this.topics,
      log: this.log,
      policy: options.delivery ?? DEFAULT_DELIVERY_POLICY,
      publish: (r) => this.publish(r.topic, r.key, r.payload, { headers: r.headers }),
      onRequest: options.onRequest,
      consumer: {
        sessionTimeout: tuning.sessionTimeoutMs,
        heartbeatInterval: tuning.heartbeatIntervalMs,
        rebalanceTimeout: tuning.rebalanceTimeoutMs,
        maxWaitTimeInMs: tuning.maxWaitTimeMs,
        // The broker answers a fetch as soon as one record is there (see KafkaConsumerTuning).
        minBytes: 1,
        allowAutoTopicCreation: false,
        retry,
      },
      brokers: this.brokerList,
      subscribeTimeoutMs: this.timeouts.subscribeMs,
      closeGraceMs: this.timeouts.closeGraceMs,
      requestTimeoutMs: this.timeouts.requestMs,
    };
  }

  /**
   * Connects, creates the configured topics and readies the producer, within `startupMs`.
   * @throws Error naming the brokers when the cluster cannot be reached or set up in time.
   */
  static async start(options: KafkaBusOptions): Promise<KafkaBus> {
    const bus = new KafkaBus(options);
    const ms = bus.timeouts.startupMs;
    try {
      await withDeadline(bus.connect(), ms, 'startup');
    } catch (err) {
      // Not awaited: a broker that never answers holds the disconnects too, until kafkajs' own
      // timeouts release them; the caller learns of the failure now.
      void bus.close().catch(() => undefined);
      throw new Error(`Kafka bus could not start against brokers ${bus.brokerList} within ${ms} ms: ${message(err)}`, { cause: err });
    }
    bus.log.info({ brokers: bus.brokerList }, 'kafka bus started');
    return bus;
  }

  async publish(topic: string, key: string, payload: Uint8Array, options: PublishOptions = {}): Promise<void> {
    if (this.closed) throw new Error(`Kafka bus closed: cannot publish to ${topic}`);
    const ms = options.timeoutMs ?? this.timeouts.publishMs;
    try {
      await withDeadline(this.send(topic, key, payload, options.headers), ms, 'publish');
    } catch (err) {
      throw new Error(`Kafka publish to ${topic} failed (brokers ${this.brokerList}): ${message(err)}`, { cause: err });
    }
  }

  subscribe(topic: string, handler: BusHandler, options: SubscribeOptions = {}): Subscription {
    return this.attach(topic, perRecord(handler), options);
  }

  subscribeBatch(topic: string, handler: BusBatchHandler, options: BatchSubscribeOptions): Subscription {
    return this.attach(topic, inBatches(handler, options), options);
  }

  private attach(topic: string, dispatch: Dispatch, options: SubscribeOptions): Subscription {
    if (this.closed) throw new Error(`Kafka bus closed: cannot subscribe to ${topic}`);
    const broadcast = options.group === undefined;
    const groupId = options.group ?? `${this.options.clientId}.broadcast.${randomUUID()}`;
    const sub = new KafkaSubscription(this.deps, { topic, groupId, broadcast, fromBeginning: options.fromBeginning ?? false }, dispatch);
    this.subscriptions.add(sub);
    return {
      ready: sub.ready,
      close: async () => {
        this.subscriptions.delete(sub);
        await sub.close();
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    // Publishes already accepted are sent before the producer goes (bounded by one request).
    const deadline = Date.now() + this.timeouts.requestMs;
    while ((this.producing || this.outbox.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const subs = [...this.subscriptions];
    this.subscriptions.clear();
    await Promise.all(subs.map((s) => s.close()));
    const bound = this.timeouts.requestMs;
    await Promise.all([
      withDeadline(this.producer.disconnect(), bound, 'producer disconnect').catch((err: unknown) => this.log.warn({ err }, 'kafka producer did not disconnect cleanly')),
      withDeadline(this.admin.disconnect(), bound, 'admin disconnect').catch((err: unknown) => this.log.warn({ err }, 'kafka admin did not disconnect cleanly')),
    ]);
  }

  private async connect(): Promise<void> {
    await this.admin.connect();
    await this.topics.declare(this.options.topics ?? []);
    await this.producer.connect();
  }

  private async send(topic: string, key: string, payload: Uint8Array, headers: PublishOptions['headers']): Promise<void> {
    await this.topics.ensure(topic);
    const message = { key, value: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), headers: headers ? { ...headers } : undefined };
    return new Promise((resolve, reject) => {
      this.outbox.push({ topic, message, resolve, reject });
      this.flushOutbox();
    });
  }

  /**
   * Publishes are batched: everything queued while one produce request is in flight (or within one
   * event-loop turn, or `lingerMs`) goes in the next request, in queue order. With one request in flight, per-key
   * order holds and throughput is no longer one record per broker round trip.
   */
  private flushOutbox(): void {
    if (this.producing || this.outbox.length === 0) return;
    this.producing = true;
    const linger = this.options.lingerMs ?? 0;
    const send = () => {
      const batch = this.outbox.splice(0, MAX_RECORDS_PER_PRODUCE);
      const byTopic = new Map<string, Array<(typeof batch)[number]['message']>>();
      for (const r of batch) {
        const list = byTopic.get(r.topic);
        if (list) list.push(r.message);
        else byTopic.set(r.topic, [r.message]);
      }
      this.produceWhole([...byTopic].map(([topic, messages]) => ({ topic, messages })))
        .then(
          () => batch.forEach((r) => r.resolve()),
          (err: unknown) => batch.forEach((r) => r.reject(err)),
        )
        .finally(() => {
          this.producing = false;
          this.flushOutbox();
        });
    };
    if (linger > 0) setTimeout(send, linger);
    else setImmediate(send);
  }

  /**
   * Produces the batch, retrying all of it after a failure, with backoff. A retry may write again
   * what the failed attempt wrote: every consumer of the bus takes a record twice as once (the sync
   * worker by message id, deliveries by id at the client); a record silently missing, as kafkajs'
   * own retry can leave, is what must not happen.
   */
  private async produceWhole(topicMessages: Array<{ topic: string; messages: Outgoing['message'][] }>): Promise<void> {
    const { initialRetryTime, maxRetryTime, retries } = this.produceRetry;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.producer.sendBatch({ acks: -1, timeout: this.timeouts.requestMs, topicMessages });
        return;
      } catch (err) {
        if (attempt >= retries || this.closed) throw err;
        this.log.warn({ err, attempt: attempt + 1 }, 'a produce failed; producing the whole batch again');
        await new Promise((resolve) => setTimeout(resolve, Math.min(maxRetryTime, initialRetryTime * 2 ** attempt)));
      }
    }
  }
}

/** Records per produce request at most (kafkajs splits per partition; the broker caps bytes). */
const MAX_RECORDS_PER_PRODUCE = 1_000;

interface Outgoing {
  topic: string;
  message: { key: string; value: Buffer; headers: Record<string, string> | undefined };
  resolve(): void;
  reject(err: unknown): void;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import { setTimeout as delay } from 'node:timers/promises';
import { KafkaJSError, type Admin, type Batch, type Consumer, type ConsumerConfig, type EachBatchPayload, type IHeaders, type Kafka, type KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { BusRecord, DeliveryPolicy, Subscription } from './bus';
import type { DeliveryContext, Dispatch } from './bus-delivery';
import type { KnownTopics } from './kafka-topics';
import { withDeadline } from '../deadline/with-deadline';

/** How often a running handler heartbeats the group (kafkajs throttles to its heartbeat interval). */
const HANDLER_HEARTBEAT_MS = 3_000;
/**
 * Within one fetched batch (up to kafkajs' maxBytesPerPartition, thousands of small records when
 * catching up), what is handled is committed at least this often, so a crash replays little.
 */
const MID_BATCH_COMMIT_MS = 1_000;

/** What a subscription needs from its KafkaBus. */
export interface KafkaSubscriptionDeps {
  kafka: Kafka;
  admin: Admin;
  topics: KnownTopics;
  log: Logger;
  policy: DeliveryPolicy;
  /** Publishes a parked record. */
  publish(record: BusRecord): Promise<void>;
  consumer: Omit<ConsumerConfig, 'groupId'>;
  /** For error messages. */
  brokers: string;
  subscribeTimeoutMs: number;
  closeGraceMs: number;
  requestTimeoutMs: number;
  /** Told the API of every request a consumer sends (see KafkaBusOptions.onRequest). */
  onRequest?: (apiName: string) => void;
}

export interface KafkaSubscriptionSpec {
  topic: string;
  groupId: string;
  /** A broadcast subscription owns its group: it is deleted on close. */
  broadcast: boolean;
  fromBeginning: boolean;
}

/**
 * Thrown from eachBatch, only once the subscription is closing, to leave the rest of the batch
 * uncommitted (kafkajs commits the offsets resolved before it, then rethrows).
 * A retriable KafkaJSError: kafkajs neither logs it nor crashes on it, and its retry finds the
 * consumer stopped.
 */
class Unacknowledged extends KafkaJSError {
  constructor() {
    super('subscription closing', { retriable: true });
  }
}

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;

/**
 * One Bus subscription on a kafkajs consumer of its own.
 *
 * Records come from kafkajs' eachBatch (one fetched batch of one partition per call, partitions
 * one after the other) and go to the handler through the subscription's {@link Dispatch}: one at
 * a time, or in runs of up to its `maxBatch`. An offset is resolved (eachBatchAutoResolve off)
 * only once the records up to it were handled or parked, and kafkajs (autoCommit) commits the
 * resolved offsets after the fetched batch, or when it fails; a long fetched batch is also
 * committed as it goes ({@link MID_BATCH_COMMIT_MS}). The commit follows the work.
 *
 * Lingering (a dispatch with `lingerMs`): a fetched batch smaller than `maxBatch` is not handed
 * over at once. The subscription waits until `lingerMs` after the fetch that brought it, then
 * returns it unresolved, so kafkajs fetches it again from the same offset together with what
 * came meanwhile, and that second batch is handed over whatever its size. The broker still
 * answers a fetch as soon as one record is there: an idle subscription costs no more than
 * without lingering, and a busy one (full batches) never waits.
 *
 * Positioning ("ready"): kafkajs keeps the position of a partition without a committed offset in
 * memory only, so records published after the consumer started but before its first commit would
 * be skipped if the partition moved to another member in between. So the subscription snapshots the
 * topic's end offsets (its start offsets with fromBeginning) before joining, and on every join
 * pauses the partitions it was given that have no committed offset, commits the snapshot for them,
 * and resumes them. `ready` resolves after the first such join: from then on every partition of the
 * group has a committed offset at or before any newly published record.
 *
 * A consumer that kafkajs gives up on (a crash it will not restart) is replaced, with backoff,
 * until the subscription is closed.
 */
export class KafkaSubscription implements Subscription {
  readonly ready: Promise<void>;
  private readonly abort = new AbortController();
  private readonly aborted: Promise<void>;
  private readonly graceOver: Promise<number>;
  private endGrace!: () => void;
  private readonly starting: Promise<void>;
  private readonly ctx: DeliveryContext;
  private readonly log: Logger;
  private consumer?: Consumer;
  private anchors = new Map<number, string>();
  /** When the latest fetch answered; a batch lingers from there. */
  private fetchedAt = 0;
  /** Per partition, the first offset of the batch that lingered last: it is not held twice. */
  private readonly lingered = new Map<number, string>();
  private generation = 0;
  private restartDelayMs = RESTART_MIN_MS;
  private closing?: Promise<void>;

  constructor(
    private readonly deps: KafkaSubscriptionDeps,
    private readonly spec: KafkaSubscriptionSpec,
    private readonly dispatch: Dispatch,
  ) {
    this.log = deps.log.child({ topic: spec.topic, group: spec.broadcast ? 'broadcast' : spec.groupId });
    this.aborted = new Promise((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    this.graceOver = new Promise((resolve) => (this.endGrace = () => resolve(0)));
    this.ctx = {
      policy: deps.policy,
      log: deps.log, // deliver() names the topic and group itself
      group: spec.broadcast ? undefined : spec.groupId,
      signal: this.abort.signal,
      publish: (record) => deps.publish(record),
    };
    this.starting = this.start();
    const what = `subscription to ${spec.topic} (group ${spec.groupId}) on Kafka ${deps.brokers}`;
    this.ready = withDeadline(this.starting, deps.subscribeTimeoutMs, what).catch((err: unknown) => {
      if (!this.abort.signal.aborted) this.log.error({ err }, 'kafka subscription could not start; closed');
      void this.close(); // not awaited: it waits for the setup steps still in flight
      throw new Error(`${what} not ready: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    // Callers that do not await `ready` (the MemoryBus never fails it) still get the error logged.
    this.ready.catch(() => undefined);
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async start(): Promise<void> {
    const { topic, fromBeginning } = this.spec;
    await this.retrying(() => this.deps.topics.ensure(topic));
    // A new topic's partitions can refuse ListOffsets (NOT_LEADER) a moment after creation.
    const offsets = await this.retrying(() => this.deps.admin.fetchTopicOffsets(topic));
    this.anchors = new Map(offsets.map((o) => [o.partition, fromBeginning ? o.low : o.high]));
    this.throwIfClosed();
    const { joined } = await this.spawn();
    await Promise.race([joined, this.aborted]);
    this.throwIfClosed();
  }

  /** Creates, connects and runs a consumer; `joined` resolves on its first positioned join. */
  private async spawn(): Promise<{ joined: Promise<void> }> {
    const { topic, groupId, fromBeginning } = this.spec;
    const consumer = this.deps.kafka.consumer({ ...this.deps.consumer, groupId });
    this.consumer = consumer;
    const onRequest = this.deps.onRequest;
    if (onRequest) consumer.on(consumer.events.REQUEST, (e) => onRequest(e.payload.apiName));
    let positioned!: () => void;
    const joined = new Promise<void>((resolve) => (positioned = resolve));
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const generation = ++this.generation;
      const mine = event.payload.memberAssignment[topic] ?? [];
      if (mine.length > 0) consumer.pause([{ topic, partitions: mine }]);
      void this.position(consumer, mine, generation).then(positioned);
    });
    consumer.on(consumer.events.FETCH, () => (this.fetchedAt = Date.now()));
    consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart || this.abort.signal.aborted || this.consumer !== consumer) return;
      this.log.error({ err: event.payload.error }, 'kafka consumer crashed and will not restart by itself; replacing it');
      this.replaceLater(consumer);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning });
    await consumer.run({ autoCommit: true, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: (p) => this.onBatch(p) });
    this.restartDelayMs = RESTART_MIN_MS;
    return { joined };
  }

  /** Commits the snapshot for the given partitions that have no committed offset, then resumes them. */
  private async position(consumer: Consumer, partitions: number[], generation: number): Promise<void> {
    if (partitions.length === 0) return;
    const { topic, groupId } = this.spec;
    try {
      const [committed] = await this.deps.admin.fetchOffsets({ groupId, topics: [topic] });
      const missing = (committed?.partitions ?? [])
        .filter((p) => partitions.includes(p.partition) && Number(p.offset) < 0 && this.anchors.has(p.partition))
        .map((p) => ({ topic, partition: p.partition, offset: this.anchors.get(p.partition)! }));
      if (missing.length > 0 && generation === this.generation) await consumer.commitOffsets(missing);
    } catch (err) {
      // Resuming anyway beats a stuck partition; the gap is a rebalance before the first commit.
      if (generation === this.generation) this.log.warn({ err }, 'could not commit start offsets; consuming from kafkajs positions');
    }
    if (generation !== this.generation || this.abort.signal.aborted) return;
    try {
      consumer.resume([{ topic, partitions }]);
    } catch (err) {
      this.log.warn({ err }, 'could not resume partitions after positioning them'); // the consumer stopped meanwhile
    }
  }

  /** Hands a fetched batch to the dispatch in runs of up to `maxBatch`, resolving offsets as they are acknowledged. */
  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { maxBatch } = this.dispatch;
    if (this.abort.signal.aborted) throw new Unacknowledged();
    if (await this.lingerOver(batch)) return; // unresolved: fetched again, with what came meanwhile
    let committedAt = Date.now();
    for (let start = 0; start < batch.messages.length; start += maxBatch) {
      if (this.abort.signal.aborted) throw new Unacknowledged();
      // Stopped, or the partition was reassigned or sought meanwhile: kafkajs fetches it anew.
      if (!payload.isRunning() || payload.isStale()) return;
      const run = batch.messages.slice(start, start + maxBatch);
      const acknowledged = await this.deliverRun(payload, run.map((m) => toRecord(batch.topic, m)));
      if (acknowledged > 0) payload.resolveOffset(run[acknowledged - 1].offset);
      if (acknowledged < run.length) throw new Unacknowledged();
      if (start + maxBatch < batch.messages.length) {
        await payload.heartbeat().catch(() => undefined); // throttled by kafkajs to heartbeatInterval
        if (Date.now() - committedAt >= MID_BATCH_COMMIT_MS) {
          // Not fatal: what is resolved is committed at the end of the batch anyway.
          await payload.commitOffsetsIfNecessary(payload.uncommittedOffsets()).catch((err: unknown) => this.log.debug({ err }, 'could not commit within a fetched batch'));
          committedAt = Date.now();
        }
      }
    }
  }

  /** Whether `batch` waited for more records instead (once per first offset): see the class comment. */
  private async lingerOver(batch: Batch): Promise<boolean> {
    const { lingerMs, maxBatch } = this.dispatch;
    const first = batch.messages[0]?.offset;
    if (lingerMs <= 0 || first === undefined || batch.messages.length >= maxBatch || this.lingered.get(batch.partition) === first) return false;
    this.lingered.set(batch.partition, first);
    const wait = this.fetchedAt + lingerMs - Date.now();
    if (wait > 0) await delay(Math.min(wait, lingerMs), undefined, { signal: this.abort.signal }).catch(() => undefined);
    return true;
  }

  private async deliverRun(payload: EachBatchPayload, records: BusRecord[]): Promise<number> {
    // A handler may take long (the sync worker waits out a store that is down): keep the group
    // membership alive meanwhile, or the group would evict this consumer mid-batch and stall.
    const beat = setInterval(() => void payload.heartbeat().catch(() => undefined), HANDLER_HEARTBEAT_MS);
    try {
      return await Promise.race([this.dispatch.run(records, this.ctx), this.graceOver]);
    } finally {
      clearInterval(beat);
    }
  }

  private replaceLater(crashed: Consumer): void {
    const delayMs = this.restartDelayMs;
    this.restartDelayMs = Math.min(RESTART_MAX_MS, delayMs * 2);
    setTimeout(() => void this.replace(crashed), delayMs).unref();
  }

  private async replace(crashed: Consumer): Promise<void> {
    if (this.abort.signal.aborted || this.consumer !== crashed) return;
    await withDeadline(crashed.disconnect(), this.deps.requestTimeoutMs, 'disconnect').catch(() => undefined);
    try {
      await this.spawn();
    } catch (err) {
      const failed = this.consumer;
      this.log.error({ err, retryInMs: this.restartDelayMs }, 'could not replace the kafka consumer; retrying');
      if (failed) this.replaceLater(failed);
    }
  }

  private async shutdown(): Promise<void> {
    this.abort.abort();
    const grace = setTimeout(() => this.endGrace(), this.deps.closeGraceMs);
    try {
      await this.starting.catch(() => undefined);
      const consumer = this.consumer;
      if (consumer) {
        const bound = this.deps.closeGraceMs + 2 * this.deps.requestTimeoutMs;
        await withDeadline(consumer.disconnect(), bound, 'consumer disconnect').catch((err: unknown) => this.log.warn({ err }, 'kafka consumer did not disconnect cleanly'));
      }
      if (this.spec.broadcast) {
        await withDeadline(this.deps.admin.deleteGroups([this.spec.groupId]), this.deps.requestTimeoutMs, 'delete group').catch((err: unknown) =>
          this.log.debug({ err }, 'could not delete the broadcast consumer group; it expires with its offsets'),
        );
      }
    } finally {
      clearTimeout(grace);
      this.endGrace();
    }
  }

  /** Retries `step` while it fails with a retriable Kafka error; `ready`'s deadline bounds it. */
  private async retrying<T>(step: () => Promise<T>): Promise<T> {
    for (let failures = 1; ; failures++) {
      this.throwIfClosed();
      try {
        return await step();
      } catch (err) {
        if ((err as { retriable?: unknown }).retriable !== true || this.abort.signal.aborted) throw err;
        this.log.debug({ err }, 'kafka subscription setup step failed; retrying');
      }
      await delay(Math.min(1_000, 100 * failures), undefined, { signal: this.abort.signal }).catch(() => undefined);
    }
  }

  private throwIfClosed(): void {
    if (this.abort.signal.aborted) throw new Error('subscription closed before it was ready');
  }
}

function toRecord(topic: string, message: KafkaMessage): BusRecord {
  const record: BusRecord = { topic, key: message.key?.toString('utf8') ?? '', payload: message.value ?? new Uint8Array() };
  const headers = toHeaders(message.headers);
  return headers ? { ...record, headers } : record;
}

function toHeaders(raw: IHeaders | undefined): Record<string, string> | undefined {
  if (!raw) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = last.toString();
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

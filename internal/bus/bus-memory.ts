import type { Logger } from 'pino';
import {
  DEFAULT_DELIVERY_POLICY,
  type BatchSubscribeOptions,
  type Bus,
  type BusBatchHandler,
  type BusHandler,
  type BusRecord,
  type DeliveryPolicy,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from './bus';
import { inBatches, perRecord, type DeliveryContext, type Dispatch } from './bus-delivery';
import { MemoryGroup } from './memory-group';

export interface MemoryBusOptions {
  /** Virtual partitions per group: the unit of per-key order and of assignment. Default 8. */
  partitions?: number;
  /** Newest records kept per topic for `fromBeginning` subscriptions. Default 1000. */
  retainPerTopic?: number;
  delivery?: DeliveryPolicy;
}

/** One broadcast subscription's ordered inbox: records are handed over in publish order, one call at a time. */
class Inbox {
  private queue: BusRecord[] = [];
  private running = false;
  stopped = false;

  constructor(
    private readonly dispatch: Dispatch,
    private readonly ctx: DeliveryContext,
  ) {}

  push(record: BusRecord): void {
    if (this.stopped) return;
    this.queue.push(record);
    if (this.running) return;
    this.running = true;
    queueMicrotask(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      // An abandoned record is dropped: that happens only when the subscription stopped.
      while (this.queue.length > 0 && !this.stopped) await this.dispatch.run(this.queue.splice(0, this.dispatch.maxBatch), this.ctx);
    } finally {
      this.running = false;
    }
  }
}

interface TopicState {
  retained: BusRecord[];
  inboxes: Set<Inbox>;
  groups: Map<string, MemoryGroup>;
}

/**
 * The in-process Bus of `chatd`, first-class: broadcast and consumer groups with the same
 * guarantees as the Kafka adapter, asynchronously, in order per key. "Accepted" means queued in
 * this process; nothing survives a restart. Groups live as long as the bus. A batch subscription
 * gets what waited, at once: in-process, handing over costs nothing, so it never lingers.
 */
export class MemoryBus implements Bus {
  private readonly topics = new Map<string, TopicState>();
  /** Stoppers of the live subscriptions. */
  private readonly live = new Set<() => void>();
  private readonly partitions: number;
  private readonly retain: number;
  private readonly policy: DeliveryPolicy;
  private closed = false;

  constructor(
    private readonly log: Logger,
    options: MemoryBusOptions = {},
  ) {
    this.partitions = options.partitions ?? 8;
    this.retain = options.retainPerTopic ?? 1000;
    this.policy = options.delivery ?? DEFAULT_DELIVERY_POLICY;
  }

  publish(topic: string, key: string, payload: Uint8Array, options: PublishOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`bus closed: cannot publish to ${topic}`));
    const record: BusRecord = options.headers ? { topic, key, payload, headers: { ...options.headers } } : { topic, key, payload };
    const state = this.topic(topic);
    if (this.retain > 0) {
      state.retained.push(record);
      if (state.retained.length > this.retain) state.retained.shift();
    }
    for (const inbox of state.inboxes) inbox.push(record);
    for (const group of state.groups.values()) group.push(record);
    return Promise.resolve();
  }

  subscribe(topic: string, handler: BusHandler, options: SubscribeOptions = {}): Subscription {
    return this.attach(topic, perRecord(handler), options);
  }

  subscribeBatch(topic: string, handler: BusBatchHandler, options: BatchSubscribeOptions): Subscription {
    return this.attach(topic, inBatches(handler, options), options);
  }

  private attach(topic: string, dispatch: Dispatch, options: SubscribeOptions): Subscription {
    if (this.closed) throw new Error(`bus closed: cannot subscribe to ${topic}`);
    const state = this.topic(topic);
    const abort = new AbortController();
    const ctx: DeliveryContext = {
      policy: this.policy,
      log: this.log,
      group: options.group,
      signal: abort.signal,
      publish: (r) => this.publish(r.topic, r.key, r.payload, { headers: r.headers }),
    };
    let leave: () => void;
    if (options.group === undefined) {
      const inbox = new Inbox(dispatch, ctx);
      if (options.fromBeginning) for (const r of state.retained) inbox.push(r);
      state.inboxes.add(inbox);
      leave = () => {
        inbox.stopped = true;
        state.inboxes.delete(inbox);
      };
    } else {
      let group = state.groups.get(options.group);
      if (!group) state.groups.set(options.group, (group = new MemoryGroup(this.partitions, options.fromBeginning ? state.retained : [])));
      const member = group.join(dispatch, ctx);
      const g = group;
      leave = () => g.leave(member);
    }
    const stop = () => {
      if (abort.signal.aborted) return;
      abort.abort();
      this.live.delete(stop);
      leave();
    };
    this.live.add(stop);
    return {
      ready: Promise.resolve(),
      close: () => {
        stop();
        return Promise.resolve();
      },
    };
  }

  close(): Promise<void> {
    this.closed = true;
    for (const stop of [...this.live]) stop();
    this.topics.clear();
    return Promise.resolve();
  }

  private topic(name: string): TopicState {
    let state = this.topics.get(name);
    if (!state) this.topics.set(name, (state = { retained: [], inboxes: new Set(), groups: new Map() }));
    return state;
  }
}

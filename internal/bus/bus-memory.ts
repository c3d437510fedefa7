import type { Logger } from 'pino';
import type { Bus, BusHandler, BusRecord, Subscription } from './bus';

/** One subscriber's ordered inbox: records are handled one at a time, in publish order. */
class Inbox {
  private queue: BusRecord[] = [];
  private running = false;
  closed = false;

  constructor(
    private readonly handler: BusHandler,
    private readonly log: Logger,
  ) {}

  push(record: BusRecord): void {
    if (this.closed) return;
    this.queue.push(record);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.closed) {
      const record = this.queue.shift()!;
      try {
        await this.handler(record);
      } catch (err) {
        this.log.error({ err, topic: record.topic, key: record.key }, 'bus handler failed; record skipped');
      }
    }
    this.running = false;
  }
}

/** The in-process Bus of `chatd`: broadcast to every subscription, asynchronously, in order. */
export class MemoryBus implements Bus {
  private readonly topics = new Map<string, Set<Inbox>>();

  constructor(private readonly log: Logger) {}

  publish(topic: string, key: string, payload: Uint8Array): Promise<void> {
    for (const inbox of this.topics.get(topic) ?? []) inbox.push({ topic, key, payload });
    return Promise.resolve();
  }

  subscribe(topic: string, handler: BusHandler): Subscription {
    const inbox = new Inbox(handler, this.log);
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(inbox);
    return {
      close: () => {
        inbox.closed = true;
        set.delete(inbox);
      },
    };
  }

  close(): Promise<void> {
    for (const set of this.topics.values()) for (const inbox of set) inbox.closed = true;
    this.topics.clear();
    return Promise.resolve();
  }
}

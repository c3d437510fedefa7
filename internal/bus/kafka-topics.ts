import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';

/** How a topic is created when it does not exist. */
export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  /** The topic's min.insync.replicas: with acks=all, a write fails unless this many replicas have it. Default: the broker's. */
  minInsyncReplicas?: number;
}

/**
 * Creates the topics that do not exist yet, waiting until their partitions have leaders.
 * Idempotent and safe to race with another process creating the same topics. An existing topic
 * is left as it is (partitions are never added behind an operator's back), with a warning when it
 * does not match its spec.
 * @param timeoutMs bound the broker applies to the creation and the wait for leaders.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], options: { timeoutMs?: number; log?: Logger } = {}): Promise<void> {
  if (specs.length === 0) return;
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    // false (not an error) when another process created them first.
    await admin.createTopics({
      topics: missing.map(({ topic, numPartitions, replicationFactor, minInsyncReplicas }) => ({
        topic,
        numPartitions,
        replicationFactor,
        configEntries: minInsyncReplicas === undefined ? [] : [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }],
      })),
      waitForLeaders: true,
      timeout: options.timeoutMs ?? 10_000,
    });
    options.log?.info({ topics: missing.map((s) => s.topic) }, 'kafka topics created');
  }
  const present = specs.filter((s) => existing.has(s.topic));
  if (present.length === 0 || !options.log) return;
  const { topics } = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
  for (const spec of present) {
    const actual = topics.find((t) => t.name === spec.topic);
    const partitions = actual?.partitions.length ?? 0;
    const replicas = actual?.partitions[0]?.replicas.length ?? 0;
    if (partitions !== spec.numPartitions || replicas !== spec.replicationFactor) {
      options.log.warn({ topic: spec.topic, partitions, replicas, configured: spec }, 'kafka topic exists with another layout; left as it is');
    }
  }
}

/**
 * The topics this process has ensured, so each is created (or found) once: topics configured at
 * startup, and those first used later (per-chat-server delivery topics, `.parked` topics) with the
 * default layout. A failed ensure is forgotten, so the next use tries again.
 */
export class KnownTopics {
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(
    private readonly admin: Admin,
    private readonly layout: Omit<TopicSpec, 'topic'>,
    private readonly options: { timeoutMs?: number; log?: Logger } = {},
  ) {}

  /** Ensures the given specs now (startup), remembering them. */
  async declare(specs: readonly TopicSpec[]): Promise<void> {
    const work = ensureTopics(this.admin, specs, this.options);
    for (const s of specs) this.remember(s.topic, work);
    await work;
  }

  /** Resolves once `topic` exists, creating it with the default layout if needed. */
  ensure(topic: string): Promise<void> {
    const known = this.ensured.get(topic);
    if (known) return known;
    const work = ensureTopics(this.admin, [{ topic, ...this.layout }], this.options);
    this.remember(topic, work);
    return work;
  }

  private remember(topic: string, work: Promise<void>): void {
    this.ensured.set(topic, work);
    work.catch(() => this.ensured.delete(topic));
  }
}

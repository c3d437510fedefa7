import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { Logger } from 'pino';
import { kafkaLogCreator } from '../bus/kafka-log';
import type { LogOffsets } from './log-catch-up';
import { fixKafkajsRequestQueue } from '../bus/kafkajs-request-queue';

fixKafkajsRequestQueue(); // see there: kafkajs 2.2.4's idle connections spin

export interface KafkaLogOffsetsOptions {
  brokers: readonly string[];
  clientId: string;
  /** The message log topic as named on the cluster (with the deployment's topic prefix). */
  topic: string;
  /** The sync worker's consumer group. */
  group: string;
  requestTimeoutMs: number;
  log: Logger;
}

/** The message log's end offsets and the sync worker's committed offsets, read with a Kafka admin client. */
export class KafkaLogOffsets implements LogOffsets {
  private readonly admin: Admin;

  private constructor(private readonly opts: KafkaLogOffsetsOptions) {
    const kafka = new Kafka({
      clientId: opts.clientId,
      brokers: [...opts.brokers],
      connectionTimeout: opts.requestTimeoutMs,
      requestTimeout: opts.requestTimeoutMs,
      enforceRequestTimeout: true,
      // A resume waits a few seconds at most; kafkajs' own retries must not outlast it.
      retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 500 },
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(opts.log),
    });
    this.admin = kafka.admin();
  }

  static async connect(opts: KafkaLogOffsetsOptions): Promise<KafkaLogOffsets> {
    const offsets = new KafkaLogOffsets(opts);
    await offsets.admin.connect();
    return offsets;
  }

  async endOffsets(): Promise<Map<number, bigint>> {
    const partitions = await this.admin.fetchTopicOffsets(this.opts.topic);
    return new Map(partitions.map((p) => [p.partition, BigInt(p.high)]));
  }

  async committedOffsets(): Promise<Map<number, bigint>> {
    const [topic] = await this.admin.fetchOffsets({ groupId: this.opts.group, topics: [this.opts.topic] });
    return new Map((topic?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

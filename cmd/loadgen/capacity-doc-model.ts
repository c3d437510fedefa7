import type { FrameSizes } from './capacity-doc-frames';
import type { Inputs } from './capacity-doc-inputs';

/** The case study's numbers (the seed): what docs/CAPACITY.md sizes the mesh for. */
export const SEED = {
  dailyUsers: 500e6,
  avgMsgPerSec: 230_000,
  peakMsgPerSec: 690_000,
  bytesPerDay: 2e12,
  /** The upper end of 100–200M. */
  connections: 200e6,
  heartbeatS: 5,
};

/** The seed's average message: 2 TB/day ÷ (230k/s × 86,400 s), taken as its text size. */
export const SEED_TEXT_BYTES = Math.round(SEED.bytesPerDay / (SEED.avgMsgPerSec * 86_400));

export interface Assumption {
  value: number;
  /** What the value is, with its unit. */
  what: string;
  why: string;
}

const a = (value: number, what: string, why: string): Assumption => ({ value, what, why });

/** Every figure the model takes that the bench does not measure; the doc prints each beside its use. */
export const ASSUME = {
  utilization: a(0.5, 'share of each resource used at peak', 'room to lose a machine, a rack or a zone at peak, and for GC, compaction and reconnect storms'),
  coresPerProcess: a(1, 'cores per Node process (chat server, service, sync worker)', 'JavaScript runs on one event loop; the bench\'s CPU figures include the GC and libuv threads beside it'),
  computeCores: a(32, 'cores per compute machine (chat servers, services, sync workers)', 'a common general-purpose size; one process per core'),
  computeRamGiB: a(128, 'GiB of RAM per compute machine', '4 GiB per core, the general-purpose ratio'),
  chatProcessGiB: a(3, 'GiB of memory per chat-server process', '32 processes × 3 GiB leave 32 GiB of the 128 to the kernel (socket buffers); V8\'s heap limit raised to match'),
  fdLimit: a(1_048_576, 'open files per chat-server process', 'a deployment raises the limit (LimitNOFILE); the bench holds 15,000 per process under 20,000, which is not a property of the code'),
  nicGbps: a(25, 'Gbit/s of network per machine', 'a common data-centre NIC'),
  devicesPerUser: a(1, 'connected devices receiving each message', 'as the bench: one device per user; more devices multiply the edge frames and relay deliveries, not the storage'),
  crossServerShare: a(1, 'share of deliveries to a user on another chat server', 'with thousands of chat servers a DM\'s two users almost never share one'),
  packetBytes: a(74, 'bytes of TCP/IP and TLS per client frame', 'IPv4 20 + TCP with timestamps 32 + TLS 1.3 record 22; each small frame its own packet (the bench runs without TLS)'),
  kafkaRf: a(3, 'Kafka replication factor', 'ARCHITECTURE.md: RF 3, min.insync.replicas 2'),
  kafkaReads: a(1, 'consumer groups reading each byte', 'the log is read by the sync workers only; a delivery topic by its one chat server'),
  kafkaBrokerCores: a(16, 'cores per Kafka broker', 'a storage-optimised machine'),
  kafkaBrokerDiskMBps: a(400, 'MB/s of sustained log writes per broker (leader and follower bytes)', 'sequential appends to NVMe; well under its rated write rate'),
  kafkaPartitionMBps: a(5, 'MB/s produced into one partition at most', 'keeps each partition\'s consumer (one sync worker) far from its limit and rebalances small'),
  deliveryTopicPartitions: a(1, 'partitions of each chat server\'s delivery topic', 'it carries only the fallback and the events for one server; the default layout (CHAT_KAFKA_PARTITIONS) creates 3'),
  cassandraRf: a(3, 'Cassandra replication factor', 'ARCHITECTURE.md: RF 3 at LOCAL_QUORUM'),
  cassandraNodeCores: a(16, 'cores per Cassandra node', 'a storage-optimised machine'),
  cassandraNodeWrites: a(50_000, 'row writes (mutations) per second per node', 'about 3,000 per core: conservative for Cassandra\'s write path'),
  cassandraNodeDiskTB: a(4, 'TB of data per node', 'denser nodes make repairs and replacements take days'),
  compaction: a(2, 'disk per byte of data, compaction headroom included', 'size-tiered and unified compaction can need as much free space as what they compact'),
  retentionDays: a(365, 'days of history kept', 'the seed sets none; every message is kept, and one year is sized'),
  cassandraTextCopies: a(3, 'copies of the text in the rows a message writes', 'messages.body, message_by_client_id.body and conversations.last_body (internal/history/message-store-cassandra.ts)'),
  redisShardOps: a(100_000, 'commands per second per Redis shard', 'one core per shard, no pipelining counted on'),
  redisReplicas: a(1, 'replicas per Redis shard', 'failover (ARCHITECTURE.md); replicas serve no commands here'),
  redisShardsPerMachine: a(8, 'Redis processes (primaries or replicas) per 16-core machine', 'one core each, the rest for the kernel and persistence'),
  serviceMinReplicas: a(2, 'replicas of each service at least', 'ARCHITECTURE.md: two or more replicas of each service'),
} satisfies Record<string, Assumption>;

export type AssumptionKey = keyof typeof ASSUME;

/** One way a tier can run out, and how many units it needs for it (undefined: an input is not measured). */
export interface Constraint {
  name: string;
  units?: number;
  /** The arithmetic in words, with the inputs and assumptions it used. */
  how: string;
  /** What the figure leaves out because the record lacks it (a lower bound then). */
  missing?: string;
}

export interface TierPlan {
  tier: string;
  unit: string;
  machineKind: 'compute' | 'kafka' | 'cassandra' | 'redis';
  /** Units one machine runs. */
  perMachine: number;
  /** Machines per unit beyond the unit itself (Redis replicas). */
  copies: number;
  min: number;
  constraints: Constraint[];
}

export interface Load {
  msgPerSec: number;
  connections: number;
}

/** The sizing of a tier at one load: the units its binding constraint needs (at least `min`), and machines. */
export interface Sized {
  plan: TierPlan;
  units?: number;
  binding?: Constraint;
  machines?: number;
  /** Whether a constraint could not be computed, or left out something unmeasured: `units` is then a lower bound. */
  partial: boolean;
}

export function sized(plan: TierPlan): Sized {
  const known = plan.constraints.filter((c): c is Constraint & { units: number } => c.units !== undefined && Number.isFinite(c.units));
  if (known.length === 0) return { plan, partial: true };
  const binding = known.reduce((x, y) => (y.units > x.units ? y : x));
  // Rounded up, but not for floating-point dust (269.00000000000006 is 269).
  const units = Math.max(plan.min, Math.ceil(binding.units - 1e-9));
  const partial = plan.constraints.some((c) => c.units === undefined || c.missing !== undefined);
  return { plan, units, binding, machines: Math.ceil((units * (1 + plan.copies)) / plan.perMachine), partial };
}

/**
 * Bytes a message leaves in Kafka (log bytes, all topics) and Cassandra at the seed's text size:
 * measured at the bench's text, plus the difference in text for each copy (taken as incompressible).
 * Cassandra's writes (the wire to it) are its commitlog bytes; what it keeps on disk is the growth
 * of its flushed sstables, or the commitlog where the record has no flushed sstables. A record
 * without the measurement gets a floor instead, marked unmeasured: the computed log-record value
 * for Kafka (no record or batch headers, no other topic) and the text alone for Cassandra.
 */
export interface Stored {
  kafka: number;
  /** Bytes written to Cassandra per message (one replica): its commitlog, uncompressed. */
  cassandra: number;
  /** Bytes Cassandra keeps on disk per message (one replica, before compaction headroom). */
  cassandraDisk: number;
  /** What `cassandraDisk` is, in words. */
  cassandraDiskFrom: string;
  measured: boolean;
}

export function storedBytes(inputs: Inputs, frames: { bench: FrameSizes; seed: FrameSizes }): Stored {
  const b = inputs.bytes;
  if (!b) return { kafka: frames.seed.logRecord, cassandra: SEED_TEXT_BYTES, cassandraDisk: SEED_TEXT_BYTES, cassandraDiskFrom: "the seed's average message: Cassandra bytes per message not measured", measured: false };
  const extra = (SEED_TEXT_BYTES - inputs.textBytes) * ASSUME.cassandraTextCopies.value;
  const cassandra = b.commitlogPerMessage + extra;
  const flushed = b.sstableFlushed && b.sstablePerMessage > 0;
  return {
    kafka: b.kafkaPerMessage + (frames.seed.logRecord - frames.bench.logRecord),
    cassandra,
    cassandraDisk: flushed ? b.sstablePerMessage + extra : cassandra,
    cassandraDiskFrom: flushed ? "flushed sstable bytes per message at the seed's text" : "commitlog bytes per message at the seed's text (the record has no flushed sstables)",
    measured: true,
  };
}

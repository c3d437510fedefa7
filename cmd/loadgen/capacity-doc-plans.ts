import type { FrameSizes } from './capacity-doc-frames';
import type { Inputs } from './capacity-doc-inputs';
import { ASSUME, SEED, type Constraint, type Load, type Stored, type TierPlan } from './capacity-doc-model';
import { bytes, fix, num } from './report';

/**
 * The tiers of the mesh as plans: for a load (messages/s and connections), each way a tier can run
 * out (CPU, memory, disk, network, operations) and how many units it needs for it, from the
 * measured inputs and the named assumptions. Pure arithmetic; the doc renders it.
 */

const A = Object.fromEntries(Object.entries(ASSUME).map(([k, v]) => [k, v.value])) as { [K in keyof typeof ASSUME]: number };
const ENGINES = new Set(['chat servers', 'kafka', 'cassandra', 'redis']);
/** The services sized one by one when the record measures them apart; a record that groups them has `services`. */
const NAMED_SERVICES = ['session-service', 'sync-worker'];

export const pct = (v: number) => `${Math.round(v * 100)} %`;
const per10k = (v: number) => fix(v * 1e4, 3);
export const rate = (bytesPerSec: number) => `${bytesPerSec >= 1e9 ? `${fix(bytesPerSec / 1e9, 2)} GB/s` : `${fix(bytesPerSec / 1e6, 1)} MB/s`} (${fix((bytesPerSec * 8) / 1e9, 1)} Gbit/s)`;

/** Cores at `load` from a per-message CPU figure and, where measured, the idle cost per connection. */
function cpuConstraint(load: Load, per1k: number | undefined, idlePerConn: number | undefined, idleMeasured: boolean, divisor: number, divisorText: string, factor = 1, factorText = ''): Constraint {
  if (per1k === undefined) return { name: 'CPU', how: 'CPU per message: not measured' };
  const msgCores = (load.msgPerSec / 1000) * per1k * factor;
  const idleCores = idlePerConn === undefined ? 0 : load.connections * idlePerConn * factor;
  const idleText = !idleMeasured ? ' + idle connections: not measured' : idlePerConn === undefined ? '' : ` + ${num(load.connections)} connections × ${per10k(idlePerConn)} cores per 10k idle${factor === 1 ? '' : ` × ${factor}`} = ${num(idleCores)} cores`;
  return {
    name: 'CPU',
    units: (msgCores + idleCores) / divisor,
    how: `${fix(per1k, 3)} CPU-s per 1k messages × ${num(load.msgPerSec)}/s${factorText} = ${num(msgCores)} cores${idleText}; ÷ ${divisorText}`,
    missing: idleMeasured ? undefined : 'the CPU of idle connections',
  };
}

function chatPlan(i: Inputs, load: Load, f: FrameSizes): TierPlan {
  const perMachine = Math.min(A.computeCores / A.coresPerProcess, Math.floor(A.computeRamGiB / A.chatProcessGiB));
  const edge = Math.max(...flows(load, f, undefined).slice(0, 2).map((x) => x.perSec ?? 0));
  const nic = (A.nicGbps * 1e9) / 8;
  const rss = i.memory?.rssPerConn;
  const perProcess = rss ? (A.chatProcessGiB * 2 ** 30) / rss : undefined;
  const memory: Constraint = perProcess
    ? { name: 'memory', units: load.connections / perProcess, how: `${A.chatProcessGiB} GiB per process ÷ ${bytes(rss)} RSS per connection (measured at ${num(i.memory?.perProcess)} per process, taken as linear) = ${num(perProcess)} connections per process; ${num(load.connections)} ÷ that` }
    : { name: 'memory', how: 'RSS per connection: not measured' };
  return {
    tier: 'chat servers',
    unit: 'processes',
    machineKind: 'compute',
    perMachine,
    copies: 0,
    min: A.serviceMinReplicas,
    constraints: [
      cpuConstraint(load, i.cpuPer1k['chat servers'], i.idle?.coresPerConn['chat servers'], i.idle !== undefined, A.coresPerProcess * A.utilization, `(${A.coresPerProcess} core per process × ${pct(A.utilization)})`),
      memory,
      { name: 'open files', units: load.connections / A.fdLimit, how: `${num(load.connections)} connections ÷ ${num(A.fdLimit)} files per process` },
      { name: 'network', units: (edge / (nic * A.utilization)) * perMachine, how: `the busier direction of the client links, ${rate(edge)} (network table), ÷ (${A.nicGbps} Gbit/s per machine × ${pct(A.utilization)}) × ${perMachine} processes per machine` },
    ],
  };
}

function servicePlans(i: Inputs, load: Load): TierPlan[] {
  const measured = Object.keys(i.cpuPer1k).filter((t) => !ENGINES.has(t));
  const grouped = measured.includes('services');
  const tiers = [...new Set([...measured, ...(grouped ? [] : NAMED_SERVICES)])].sort((x, y) => order(x) - order(y));
  const plans = tiers.map((tier): TierPlan => ({
    tier: tier === 'services' ? 'services (session, group, history, sync worker, API server: this record measures them together)' : tier,
    unit: 'processes',
    machineKind: 'compute',
    perMachine: A.computeCores / A.coresPerProcess,
    copies: 0,
    min: A.serviceMinReplicas * (tier === 'services' ? 5 : 1),
    constraints: [cpuConstraint(load, i.cpuPer1k[tier], i.idle?.coresPerConn[tier], i.idle !== undefined, A.coresPerProcess * A.utilization, `(${A.coresPerProcess} core per process × ${pct(A.utilization)})`)],
  }));
  const inGroup = grouped ? NAMED_SERVICES.map((tier): TierPlan => ({ tier, unit: 'processes', machineKind: 'compute', perMachine: A.computeCores, copies: 0, min: A.serviceMinReplicas, constraints: [{ name: 'CPU', how: 'not measured apart: in the services row above' }] })) : [];
  return [...plans, ...inGroup];
}

function order(tier: string): number {
  const i = ['session-service', 'sync-worker', 'group-service', 'history-service', 'api-server', 'services'].indexOf(tier);
  return i === -1 ? 99 : i;
}

const FLOOR_KAFKA = 'Kafka\'s record and batch headers and its other topics: log bytes per message not measured, the computed log-record value stands in';
const FLOOR_CASSANDRA = 'everything but the text: Cassandra bytes per message not measured, the seed\'s average message stands in';

function kafkaPlan(i: Inputs, load: Load, stored: Stored): TierPlan {
  const bin = load.msgPerSec * stored.kafka;
  const nic = (A.nicGbps * 1e9) / 8;
  const missing = stored.measured ? undefined : FLOOR_KAFKA;
  const binText = `${num(load.msgPerSec)}/s × ${num(stored.kafka)} B = ${rate(bin)} in`;
  return {
    tier: 'Kafka',
    unit: 'brokers',
    machineKind: 'kafka',
    perMachine: 1,
    copies: 0,
    min: A.kafkaRf,
    constraints: [
      { name: 'disk writes', units: (bin * A.kafkaRf) / (A.kafkaBrokerDiskMBps * 1e6 * A.utilization), how: `${binText} × ${A.kafkaRf} replicas ÷ (${A.kafkaBrokerDiskMBps} MB/s per broker × ${pct(A.utilization)})`, missing },
      { name: 'network', units: (bin * Math.max(A.kafkaRf, A.kafkaRf - 1 + A.kafkaReads)) / (nic * A.utilization), how: `${binText}; the brokers' NICs carry ${A.kafkaRf}× that in (produce and replica fetches) and ${A.kafkaRf - 1 + A.kafkaReads}× out (replicas and ${A.kafkaReads} consumer group); ÷ (${A.nicGbps} Gbit/s × ${pct(A.utilization)})`, missing },
      cpuConstraint(load, i.cpuPer1k.kafka, i.idle?.coresPerConn.kafka, i.idle !== undefined, A.kafkaBrokerCores * A.utilization, `(${A.kafkaBrokerCores} cores per broker × ${pct(A.utilization)})`, A.kafkaRf, ` × ${A.kafkaRf} (measured on one broker at RF 1; each replica appends and serves every byte)`),
    ],
  };
}

function cassandraPlan(i: Inputs, load: Load, stored: Stored): TierPlan {
  const mutations = i.workPerMessage['cassandra mutations'];
  const day = SEED.avgMsgPerSec * 86_400 * stored.cassandraDisk * A.cassandraRf * A.compaction;
  return {
    tier: 'Cassandra',
    unit: 'nodes',
    machineKind: 'cassandra',
    perMachine: 1,
    copies: 0,
    min: A.cassandraRf,
    constraints: [
      cpuConstraint(load, i.cpuPer1k.cassandra, i.idle?.coresPerConn.cassandra, i.idle !== undefined, A.cassandraNodeCores * A.utilization, `(${A.cassandraNodeCores} cores per node × ${pct(A.utilization)})`, A.cassandraRf, ` × ${A.cassandraRf} (measured on one node at RF 1; every replica applies every write)`),
      mutations === undefined
        ? { name: 'writes', how: 'Cassandra mutations per message: not measured' }
        : { name: 'writes', units: (load.msgPerSec * mutations * A.cassandraRf) / (A.cassandraNodeWrites * A.utilization), how: `${num(load.msgPerSec)}/s × ${fix(mutations, 2)} mutations per message × ${A.cassandraRf} replicas = ${num(load.msgPerSec * mutations * A.cassandraRf)}/s; ÷ (${num(A.cassandraNodeWrites)} per node × ${pct(A.utilization)})` },
      { name: 'disk', units: (day * A.retentionDays) / (A.cassandraNodeDiskTB * 1e12), how: `${num(SEED.avgMsgPerSec)}/s (the average: a day's volume) × 86,400 s × ${num(stored.cassandraDisk)} B (${stored.cassandraDiskFrom}) × ${A.cassandraRf} replicas × ${A.compaction} = ${fix(day / 1e12, 1)} TB/day; × ${A.retentionDays} days ÷ ${A.cassandraNodeDiskTB} TB per node`, missing: stored.measured ? undefined : FLOOR_CASSANDRA },
    ],
  };
}

function redisPlan(i: Inputs, load: Load): TierPlan {
  const perMsg = i.workPerMessage['redis commands'];
  const perConn = i.idle?.workPerConnPerSec['redis commands'];
  const ops = perMsg === undefined ? undefined : load.msgPerSec * perMsg + (perConn ?? 0) * load.connections;
  const connText = i.idle === undefined ? ' + idle connections: not measured' : ` + ${num(load.connections)} connections × ${fix(perConn ?? 0, 4)}/s`;
  return {
    tier: 'Redis',
    unit: 'shards',
    machineKind: 'redis',
    perMachine: A.redisShardsPerMachine,
    copies: A.redisReplicas,
    min: 1,
    constraints: [
      ops === undefined
        ? { name: 'commands', how: 'Redis commands per message: not measured' }
        : { name: 'commands', units: ops / (A.redisShardOps * A.utilization), how: `${num(load.msgPerSec)}/s × ${fix(perMsg, 2)} commands per message${connText} = ${num(ops)} commands/s; ÷ (${num(A.redisShardOps)} per shard × ${pct(A.utilization)})`, missing: i.idle ? undefined : 'the commands of idle connections' },
      cpuConstraint(load, i.cpuPer1k.redis, i.idle?.coresPerConn.redis, i.idle !== undefined, A.utilization, `${pct(A.utilization)} of the one core a shard uses`),
    ],
  };
}

/** Every tier's plan at `load`, with Kafka and Cassandra bytes per message at the seed's text size. */
export function tierPlans(i: Inputs, load: Load, stored: Stored, seedFrames: FrameSizes): TierPlan[] {
  return [chatPlan(i, load, seedFrames), ...servicePlans(i, load), kafkaPlan(i, load, stored), cassandraPlan(i, load, stored), redisPlan(i, load)];
}

export interface Flow {
  link: string;
  perSec?: number;
  how: string;
  /** A floor: the bytes per message it uses were not measured. */
  floor?: boolean;
}

/** Bytes per second on each link at `load`, from the computed frames (seed-size text) and the stored bytes (engines' links: absent without them). */
export function flows(load: Load, f: FrameSizes, stored: Stored | undefined): Flow[] {
  const m = load.msgPerSec;
  const d = A.devicesPerUser;
  const hb = load.connections / SEED.heartbeatS;
  const pkt = A.packetBytes;
  const inB = m * (f.send + pkt) + m * d * (f.ack + pkt) + hb * (f.heartbeat + pkt);
  const outB = m * (f.sendAck + pkt) + m * d * (f.message + pkt) + hb * (f.pong + pkt);
  const edge: Flow[] = [
    { link: 'clients → chat servers', perSec: inB, how: `${num(m)}/s × (send ${f.send} B + ${d} ack ${f.ack} B) + ${num(hb)} heartbeats/s × ${f.heartbeat} B, each + ${pkt} B of TCP/IP and TLS` },
    { link: 'chat servers → clients', perSec: outB, how: `${num(m)}/s × (send_ack ${f.sendAck} B + ${d} message ${f.message} B) + ${num(hb)} pongs/s × ${f.pong} B, each + ${pkt} B` },
    { link: 'chat server → chat server (relay)', perSec: m * d * A.crossServerShare * f.relayDelivery, how: `${num(m)}/s × ${d} device × ${pct(A.crossServerShare)} on another server × ${f.relayDelivery} B per delivery (batch framing shared, not counted)` },
  ];
  if (!stored) return edge;
  const kafka = m * stored.kafka;
  const floor = !stored.measured;
  const kafkaWhat = floor ? 'computed log-record value, a floor: log bytes not measured' : 'log bytes per message';
  return [
    ...edge,
    { link: 'chat servers → Kafka (produce)', perSec: kafka, how: `${num(m)}/s × ${num(stored.kafka)} B (${kafkaWhat})`, floor },
    { link: 'Kafka → Kafka (replication)', perSec: kafka * (A.kafkaRf - 1), how: `produce × ${A.kafkaRf - 1} followers`, floor },
    { link: 'Kafka → sync workers (and delivery topics → chat servers)', perSec: kafka * A.kafkaReads, how: `produce × ${A.kafkaReads} consumer group`, floor },
    { link: 'sync workers → Cassandra (all replicas)', perSec: m * stored.cassandra * A.cassandraRf, how: `${num(m)}/s × ${num(stored.cassandra)} B (${floor ? "the seed's average message, a floor: Cassandra bytes not measured" : 'commitlog bytes per message'}) × ${A.cassandraRf} replicas`, floor },
  ];
}

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { frameSizes, TYPICAL, type FrameSizes } from './capacity-doc-frames';
import { readInputs, type Inputs } from './capacity-doc-inputs';
import { ASSUME, SEED, SEED_TEXT_BYTES, sized, storedBytes, type Load, type Sized, type Stored } from './capacity-doc-model';
import { flows, pct, rate, tierPlans } from './capacity-doc-plans';
import { chatServersCpu, wholeMeshCpu } from './mesh-tables';
import { bytes, fix, num } from './report';
import { median, type SuiteRecord } from './suite-plan';

/**
 * docs/CAPACITY.md: the case study's load (the seed) sized tier by tier from what the bench
 * measured. Pure: a suite record in, Markdown out; every number is read from the record, computed
 * from this tree's encoders (frame sizes), or a named assumption of {@link ASSUME}. What the record
 * lacks is written "not measured", and what depends on it is a lower bound or left unsized.
 */

const NM = 'not measured';
const PEAK: Load = { msgPerSec: SEED.peakMsgPerSec, connections: SEED.connections };
const AVG: Load = { msgPerSec: SEED.avgMsgPerSec, connections: SEED.connections };

const KINDS: Record<Sized['plan']['machineKind'], string> = {
  compute: `compute machines (${ASSUME.computeCores.value} cores, ${ASSUME.computeRamGiB.value} GiB)`,
  kafka: `Kafka brokers (${ASSUME.kafkaBrokerCores.value} cores, NVMe)`,
  cassandra: `Cassandra nodes (${ASSUME.cassandraNodeCores.value} cores, ${ASSUME.cassandraNodeDiskTB.value} TB of data each)`,
  redis: `Redis machines (16 cores, ${ASSUME.redisShardsPerMachine.value} Redis processes each)`,
};

/** A Markdown table; `align` has an l or r per column (default: the first left, the rest right). */
function table(head: string[], rows: string[][], align = `l${'r'.repeat(head.length - 1)}`): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (align[i] === 'r' ? '---:' : '---')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const or = (v: number | undefined, show: (x: number) => string) => (v === undefined || !Number.isFinite(v) ? NM : show(v));
const units = (s: Sized, unit = '') => (s.units === undefined ? NM : `${s.partial ? '≥ ' : ''}${num(s.units)}${unit ? ` ${unit}` : ''}`);

function cpuTable(i: Inputs): string {
  if (!i.source) return `CPU per message: ${NM} (the record has no mesh DM step: mesh-ramp, or xs-dm-half in older records).`;
  const rows = Object.entries(i.cpuPer1k).map(([tier, v]) => [tier, fix(v, 3)]);
  const share = i.source.deliveredShare;
  const saturated = share !== undefined && share < 0.95 ? ` It delivered ${pct(share)} of the offered rate: the box was saturated, so these figures include queueing as well as contention.` : '';
  return `From ${i.source.what}.${saturated}\n\n${table(['tier', 'CPU-s per 1k messages'], rows.length ? rows : [['every tier', NM]])}\n\nWhole mesh on that step (median of runs, for reference): ${or(i.wholePer1k, (v) => fix(v, 3))} CPU-s per 1k.`;
}

function workTable(i: Inputs): string {
  const rows = Object.entries(i.workPerMessage).map(([k, v]) => [k, fix(v, 3)]);
  if (rows.length === 0) return `Work per message (RPCs, Kafka requests, Cassandra statements and mutations, Redis commands): ${NM} (the record has no work counters).`;
  return `Requests per message (EngineCounters, same runs):\n\n${table(['counter', 'per message'], rows)}`;
}

function idleTable(i: Inputs): string {
  if (!i.idle) return `Idle connections (CPU and requests of heartbeating users): ${NM} (the record has no mesh-idle step).`;
  const cores = Object.entries(i.idle.coresPerConn).map(([k, v]) => [k, fix(v * 1e4, 3)]);
  const work = Object.entries(i.idle.workPerConnPerSec).map(([k, v]) => [k, fix(v, 4)]);
  const noise = i.idle.belowNoise.length ? `\n\nWith the idle users, ${i.idle.belowNoise.join(', ')} cost less than in the empty mesh: the difference of two windows is within their noise, so they count 0 above.` : '';
  return `From ${i.idle.what}:\n\n${table(['tier', 'cores per 10,000 idle users'], cores)}\n\n${work.length ? table(['counter', 'per idle connection per second'], work) : `Requests per idle connection: ${NM}.`}${noise}`;
}

function memoryLine(i: Inputs): string {
  const m = i.memory;
  if (!m) return `Memory per connection: ${NM}.`;
  return `Memory per connection, from ${m.what}: RSS ${or(m.rssPerConn, bytes)}, heap ${or(m.heapPerConn, bytes)} (the chat servers' own gauge, no forced GC); ${or(m.perProcess, num)} connections per chat-server process under the bench's 20,000-file limit.`;
}

function bytesSection(i: Inputs, stored: Stored, f: { bench: FrameSizes; seed: FrameSizes }): string {
  const b = i.bytes;
  const measured = b
    ? `From ${b.what} (${b.runs} run${b.runs === 1 ? '' : 's'}${b.notAtRest ? `, ${b.notAtRest} read before the mesh was at rest` : ''}), the growth of the engines' data dirs from before the run's users connected to after the mesh was at rest, ÷ messages sent (connects and disconnects of the run's users included):\n\n${table(['where', `bytes per message (${i.textBytes}-byte text)`], [...Object.entries(b.kafkaByTopic).map(([t, v]) => [`Kafka log, ${t}`, fix(v, 1)]), ['Kafka log, all topics', fix(b.kafkaPerMessage, 1)], ['Cassandra commitlog', fix(b.commitlogPerMessage, 1)], ['Cassandra sstables', fix(b.sstablePerMessage, 1)]])}\n\nKafka's figure is exact: the .log segments hold the record batches as stored (one replica, no compression). Cassandra's commitlog is what it was sent (uncompressed; every table's writes, the overwritten last-message row included; 4 KiB granularity): the network to Cassandra is sized from it. ${b.sstableFlushed ? "Its sstables were flushed (`deploy/local/nodetool flush`) before and after each run, so their growth is the data as kept on disk (LZ4-compressed; the last-message row overwritten within a flush kept once, not yet merged by compaction across flushes): the disk is sized from it. The bench's text is padding that compresses far better than real text, so the seed's extra text is added uncompressed." : 'Its sstables were not flushed around the runs (older record): they grew only where a memtable happened to flush, so the disk is sized from the commitlog, an overestimate.'}`
    : `Bytes per message on disk (Kafka log, Cassandra): ${NM} (the record has no data-dir growth; the suite records it on mesh load steps).`;
  const rows: [string, keyof FrameSizes][] = [['send (client → server)', 'send'], ['ack (client → server, one id)', 'ack'], ['heartbeat (client → server)', 'heartbeat'], ['send_ack (server → sender)', 'sendAck'], ['message (server → recipient)', 'message'], ['pong (server → client)', 'pong'], ['relay delivery (in a batch)', 'relayDelivery'], ['message-log record value (Kafka)', 'logRecord']];
  const frames = table(['frame', `${f.bench.textBytes}-byte text (bench)`, `${f.seed.textBytes}-byte text (seed)`], rows.map(([n, k]) => [n, String(f.bench[k]), String(f.seed[k])]));
  const seed = stored.measured
    ? `At the seed's ${SEED_TEXT_BYTES}-byte text: Kafka ${num(stored.kafka)} B per message (measured + the log record's growth, ${f.seed.logRecord - f.bench.logRecord} B), Cassandra ${num(stored.cassandra)} B written and ${num(stored.cassandraDisk)} B on disk (measured + ${SEED_TEXT_BYTES - i.textBytes} B × ${ASSUME.cassandraTextCopies.value} copies of the text).`
    : `Without them the sizing uses floors, marked "≥": for Kafka the computed log-record value at the seed's text (${stored.kafka} B: no record or batch headers, no other topic), for Cassandra the seed's average message (${stored.cassandra} B: the text once, no row, key or other table).`;
  return `${measured}\n\n${seed}\n\nFrames, computed (not measured) with this tree's protobuf encoders for a typical DM (user ids of ${TYPICAL.sender.length} characters, a UUID client message id, a 19-digit Snowflake, empty request ids, no trace context), WebSocket header and client mask included:\n\n${frames}`;
}

function assumptionsTable(): string {
  return table(['assumption', 'value', 'why'], Object.values(ASSUME).map((x) => [x.what, x.value < 1 ? pct(x.value) : num(x.value), x.why]), 'lrl');
}

interface Sizing {
  peak: Sized[];
  avg: Sized[];
}

function sizingTable(s: Sizing): string {
  const rows = s.peak.map((p, k) => [p.plan.tier, units(p, p.plan.unit), units(s.avg[k]), p.binding ? p.binding.name : NM, p.machines === undefined ? NM : `${p.partial ? '≥ ' : ''}${num(p.machines)} ${p.plan.machineKind}`]);
  return table(['tier', `at peak (${num(SEED.peakMsgPerSec)} msg/s)`, `at average (${num(SEED.avgMsgPerSec)} msg/s)`, 'bound by', 'machines at peak'], rows, 'lrrlr');
}

function detail(s: Sized): string {
  const lines = s.plan.constraints.map((c) => `  - ${c.name}: ${c.units === undefined ? '' : `**${c.units < 10 ? fix(c.units, 1) : num(c.units)}** — `}${c.how}${c.missing ? ` (leaves out ${c.missing}: a lower bound)` : ''}`);
  const extra = s.plan.copies && s.units !== undefined ? ` Each has ${s.plan.copies} replica: ${units(s)} × ${1 + s.plan.copies} processes.` : '';
  return `- **${s.plan.tier}** at peak: ${units(s, s.plan.unit)} (at least ${s.plan.min}).${extra}\n${lines.join('\n')}`;
}

function kafkaLines(s: Sizing, stored: Stored): string[] {
  const brokers = s.peak.find((x) => x.plan.tier === 'Kafka')?.units;
  const syncW = s.peak.find((x) => x.plan.tier === 'sync-worker')?.units;
  const chat = s.peak.find((x) => x.plan.tier === 'chat servers');
  const delivery = chat?.units === undefined ? undefined : chat.units * ASSUME.deliveryTopicPartitions.value;
  const ge = stored.measured ? '' : '≥ ';
  const deliveryText = `each chat server's delivery topic adds ${ASSUME.deliveryTopicPartitions.value} (${delivery === undefined ? NM : `${chat?.partial ? '≥ ' : ''}${num(delivery)}`})`;
  const bin = SEED.peakMsgPerSec * stored.kafka;
  const byBytes = Math.ceil(bin / (ASSUME.kafkaPartitionMBps.value * 1e6));
  const log = brokers === undefined ? undefined : Math.ceil(Math.max(byBytes, syncW ?? 0) / brokers) * brokers;
  const replicas = log === undefined || delivery === undefined ? undefined : (log + delivery) * ASSUME.kafkaRf.value;
  const perDay = (SEED.avgMsgPerSec * stored.kafka * 86_400 * ASSUME.kafkaRf.value) / 1e12;
  return [
    `Kafka partitions: the message log ${ge}${or(log, num)}: ${ge}${num(byBytes)} for ${ge}${rate(bin)} at ${ASSUME.kafkaPartitionMBps.value} MB/s each, at least one per sync worker (${or(syncW, num)}), rounded up to a multiple of the brokers; ${deliveryText}. At RF ${ASSUME.kafkaRf.value}: ${ge}${or(replicas, num)} partition replicas, ${ge}${or(replicas === undefined || brokers === undefined ? undefined : replicas / brokers, num)} per broker.`,
    `Kafka disk: ${ge}${fix(perDay, 2)} TB per day of retention at RF ${ASSUME.kafkaRf.value} (the average rate × ${num(stored.kafka)} B per message).`,
  ];
}

function cassandraLine(stored: Stored): string {
  const day = SEED.avgMsgPerSec * 86_400 * stored.cassandraDisk;
  const held = day * ASSUME.cassandraRf.value * ASSUME.compaction.value;
  const ge = stored.measured ? '' : '≥ ';
  return `Cassandra disk: ${num(stored.cassandraDisk)} B per message (${stored.cassandraDiskFrom}) × ${num(SEED.avgMsgPerSec)}/s × 86,400 s = ${ge}${fix(day / 1e12, 2)} TB/day for one replica (the seed says ${fix(SEED.bytesPerDay / 1e12, 0)} TB/day of messages); × ${ASSUME.cassandraRf.value} replicas × ${ASSUME.compaction.value} for compaction = ${ge}${fix(held / 1e12, 1)} TB/day, ${ge}${fix((held * 365) / 1e15, 2)} PB per year.`;
}

function headline(s: Sizing): string {
  const byKind = new Map<string, { machines: number; partial: boolean }>();
  const unsized: string[] = [];
  for (const x of s.peak) {
    if (x.machines === undefined) {
      if (!x.plan.constraints.every((c) => c.how.startsWith('not measured apart'))) unsized.push(x.plan.tier);
      continue;
    }
    const k = byKind.get(x.plan.machineKind) ?? { machines: 0, partial: false };
    byKind.set(x.plan.machineKind, { machines: k.machines + x.machines, partial: k.partial || x.partial });
  }
  const total = [...byKind.values()].reduce((a, b) => a + b.machines, 0);
  const partial = [...byKind.values()].some((k) => k.partial) || unsized.length > 0;
  const kinds = [...byKind].map(([k, v]) => `${v.partial ? '≥ ' : ''}${num(v.machines)} ${KINDS[k as Sized['plan']['machineKind']]}`);
  const first = s.peak.filter((x) => x.machines !== undefined).reduce<Sized | undefined>((a, b) => (!a || (b.machines ?? 0) > (a.machines ?? 0) ? b : a), undefined);
  const held = first?.binding?.name === 'disk' ? ` with ${ASSUME.retentionDays.value} days of history kept` : '';
  const limit = first?.binding ? ` The tier that limits first (the most machines for its binding resource): **${first.plan.tier}**, bound by ${first.binding.name}${held}${first.partial ? ' (a lower bound: an input is not measured)' : ''}.` : '';
  const notSized = unsized.length ? ` Not sized, for want of measurements: ${unsized.join(', ')}.` : '';
  return `**${num(SEED.peakMsgPerSec)} msg/s and ${num(SEED.connections)} connections need ${partial ? 'at least ' : ''}${num(total)} machines**: ${kinds.join(', ') || 'none sized'}, each run at ${pct(ASSUME.utilization.value)} at peak.${limit}${notSized}`;
}

function flatSection(i: Inputs): string {
  if (i.flatSteps.length === 0) return 'The record has no per-server flat-cost step (a step showing that a chat server\'s cost does not grow with the number of servers). Everything above scales each tier linearly with its load, which ARCHITECTURE.md designs for (no topic or stream is consumed by every chat server) but this record does not show: read the figures as linear extrapolation from one small box.';
  return i.flatSteps.map((s) => {
    const rows = [...new Set(s.results.map((x) => x.target))].map((t) => {
      const runs = s.results.filter((x) => x.target === t);
      const per = (f: (x: (typeof runs)[number]) => number | undefined) => fix(median(runs.map((x) => { const v = f(x); return v === undefined || !x.delivered ? undefined : v / (x.delivered / 1000); })), 3);
      return [t, num(median(runs.map((x) => x.deliveredPerSec))), per(chatServersCpu), per(wholeMeshCpu)];
    });
    return `${s.title} (step ${s.key}): linear scaling holds as far as these rows stay flat.\n\n${table(['target', 'delivered/s', 'chat servers CPU-s per 1k', 'whole mesh CPU-s per 1k'], rows)}`;
  }).join('\n\n');
}

function missingList(i: Inputs): string {
  const gaps = [
    [!i.source, 'per-message CPU (mesh-ramp): every CPU constraint'],
    [Object.keys(i.workPerMessage).length === 0, 'work counters per message: Cassandra writes, Redis commands'],
    [!i.idle, 'the idle cost of a connection (mesh-idle): CPU of heartbeats on the chat servers, the session service and Redis'],
    [!i.memory, 'memory per connection (mesh-connections): chat-server processes by memory'],
    [!i.bytes, 'bytes per message on disk (data-dir growth on mesh load steps): Kafka brokers and partitions, Cassandra disk, Kafka and Cassandra network'],
    [!i.textBytesRecorded, `the text size (this record predates its field: the suite's ${i.textBytes} bytes, unchanged since the harness began)`],
  ].filter(([gap]) => gap).map(([, what]) => `- ${String(what)}`);
  const never = ['Redis memory per connection (presence and session keys): Redis is sized by commands and CPU only.', 'TLS: the bench runs plain WebSocket; TLS adds CPU per frame and memory per connection on the chat servers.', "Groups, several devices per user, history reads and reconnect storms: the seed's messages are sized as DMs to one device."];
  const inRecord = gaps.length ? `Missing from this record (the next \`make bench\` measures them), and what waits on them:\n\n${gaps.join('\n')}` : 'This record has every input the model reads.';
  return `${inRecord}\n\nNot measured by the bench at all:\n\n${never.map((x) => `- ${x}`).join('\n')}`;
}

export function renderCapacityDoc(r: SuiteRecord): string {
  const i = readInputs(r);
  const f = { bench: frameSizes(i.textBytes), seed: frameSizes(SEED_TEXT_BYTES) };
  const stored = storedBytes(i, f);
  const s: Sizing = { peak: tierPlans(i, PEAK, stored, f.seed).map(sized), avg: tierPlans(i, AVG, stored, f.seed).map(sized) };
  const shown = (x: { perSec?: number; floor?: boolean }) => (x.floor ? '≥ ' : '') + or(x.perSec, rate);
  const net = flows(PEAK, f.seed, stored).map((x, k) => [x.link, shown(x), shown(flows(AVG, f.seed, stored)[k]), x.how]);
  const netTable = table(['link', 'at peak', 'at average', 'how (at peak)'], net, 'lrrl');
  return `# Capacity

Written by \`loadgen capacity\` (and by \`make bench\`, after docs/BENCHMARKS.md) from the suite record
[\`bench/results.json\`](../bench/results.json) of ${r.started} (commit ${r.commit ?? 'not recorded'});
\`node --import tsx cmd/loadgen/main.ts capacity --json bench/results.json --out docs/CAPACITY.md\`
renders it again without running anything. The figures behind it are in [BENCHMARKS.md](BENCHMARKS.md).

## Headline

${headline(s)}

Measured on ${r.machine?.cpu ?? 'a machine not recorded'} with everything co-located: the loadgen, ${r.mesh?.chatServers ?? 'the'} chat servers, the services, Kafka, Cassandra and Redis share its cores, so per-message CPU includes their contention, and the engines ran one node each at RF 1. Every figure below is a median from the record, a size computed with this tree's encoders, or an assumption named beside it. "≥" marks a figure that leaves out something the record did not measure.

## The seed

${table(['', 'value'], [['daily users', num(SEED.dailyUsers)], ['messages/s, average', num(SEED.avgMsgPerSec)], ['messages/s, peak', num(SEED.peakMsgPerSec)], ['messages per day', num(SEED.avgMsgPerSec * 86_400)], ['message bytes per day', `${fix(SEED.bytesPerDay / 1e12, 0)} TB`], ['average message (2 TB ÷ messages per day), taken as its text', `${SEED_TEXT_BYTES} B`], ['concurrent connections (of 100–200M)', num(SEED.connections)], ['heartbeats/s (one per connection every 5 s)', num(SEED.connections / SEED.heartbeatS)]])}

## Measured inputs

### CPU per message, by tier

${cpuTable(i)}

### Work per message

${workTable(i)}

### Idle connections

${idleTable(i)}

${memoryLine(i)}

### Bytes per message

${bytesSection(i, stored, f)}

## Assumptions

${assumptionsTable()}

## Sizing

${sizingTable(s)}

Machines: ${Object.values(KINDS).join('; ')}. Each tier's units come from the constraint that needs the most; at peak:

${s.peak.map(detail).join('\n')}

${[...kafkaLines(s, stored), cassandraLine(stored)].map((l) => `- ${l}`).join('\n')}

## Network per tier

${netTable}

RPCs between the chat servers and the services (locate, register) are not in the table: their bytes are ${NM}.

## Does it scale linearly?

${flatSection(i)}

## Not measured

${missingList(i)}
`;
}

export function writeCapacityDoc(o: { out: string; record: SuiteRecord }): void {
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, renderCapacityDoc(o.record));
}

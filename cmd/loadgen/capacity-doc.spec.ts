import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { frameSizes, wsFrameBytes } from './capacity-doc-frames';
import { readInputs } from './capacity-doc-inputs';
import { sized, type TierPlan } from './capacity-doc-model';
import { renderCapacityDoc } from './capacity-doc';
import { dataGrowth } from './cluster-probe';
import type { RunResult } from './scenarios';
import type { Step, SuiteRecord } from './suite-plan';

// FIXTURE: a hand-built suite record with round numbers chosen so the expected sizes can be worked
// out by hand below. None of it is a measurement.

function run(o: Partial<RunResult> & Pick<RunResult, 'scenario' | 'target'>): RunResult {
  return { label: `fixture ${o.target}`, connections: 1000, connectFailed: 0, sent: 0, delivered: 0, deliveredPerSec: 0, durationS: 10, errors: {}, ...o };
}

/** One cross-server DM run of the fixture ramp at `rate`: 10 s, everything delivered, CPU and work in round numbers. */
function rampRun(rate: number): RunResult {
  const delivered = rate * 10;
  const k = delivered / 20_000; // the figures below are for 20,000 deliveries (2,000/s)
  return run({
    scenario: 'dm',
    target: 'mesh-relay',
    mode: 'open',
    offeredRate: rate,
    sent: rate * 15,
    sentInWindow: delivered,
    lost: 0,
    delivered,
    deliveredPerSec: rate,
    latencyMs: { p50: 1, p90: 2, p99: 5, p999: 6, max: 7, count: delivered },
    // chat servers 10 CPU-s per 20k = 0.5 per 1k; session 0.1; sync worker 0.2; kafka 0.1; cassandra 0.3; redis 0.05.
    cpuParts: { 'chat-1': 2.5 * k, 'chat-2': 2.5 * k, 'chat-3': 2.5 * k, 'chat-4': 2.5 * k, 'session-service': 2 * k, 'sync-worker': 4 * k, 'group-service': 0.2 * k, 'history-service': 0.2 * k, 'api-server': 0, kafka: 2 * k, cassandra: 6 * k, redis: 1 * k },
    paths: { local: 0, relay: delivered, fallback: 0 },
    // per message: 1 RPC, 0.1 Kafka Produce, 3 Cassandra mutations, 2 Redis commands.
    engineCounts: { rpc: delivered, 'kafka Produce': delivered / 10, 'cassandra mutations': 3 * delivered, 'redis commands': 2 * delivered },
  });
}

function rampStep(): Step {
  const results = [500, 1000, 2000, 3000].map(rampRun);
  return {
    key: 'mesh-ramp',
    phase: 'mesh',
    title: 'fixture ramp',
    scenario: 'dm',
    targets: ['mesh-relay'],
    overrides: { users: 1000, mode: 'open' },
    results,
    ramp: { rates: [500, 1000, 2000, 3000], rule: { deliveredShare: 0.95, maxLost: 0, maxP99Ms: 50 }, referenceIfNone: 1000, repetitions: [{ highestSustained: 2000, stoppedAt: 3000, why: ['fixture'] }] },
    // The 2,000/s run (index 2) sent 30,000 messages: 210 B each in Kafka, 400 B in the commitlog.
    dataGrowth: [{ result: 2, messages: 30_000, kafkaLogBytes: { 'chat.messages.v1': 6_000_000, 'chat.sessions.v1': 300_000 }, cassandraCommitlogBytes: 12_000_000, cassandraSstableBytes: 0, atRest: true }],
  };
}

function idleStep(): Step {
  const parts = (extra: number) => ({ 'chat-1': 1 + extra / 2, 'chat-2': 1 + extra / 2, 'session-service': 1 + extra / 2, redis: 0.5 + extra / 40 });
  return {
    key: 'mesh-idle',
    phase: 'mesh',
    title: 'fixture idle',
    scenario: 'connections',
    targets: ['mesh-empty', 'mesh-idle'],
    overrides: { users: 10_000, settleS: 5, durationS: 10 },
    // 10,000 users add 2 CPU-s to the chat servers over 10 s (0.2 cores), 1 to the session service, 0.05 to Redis, and 2,000 Redis commands.
    results: [run({ scenario: 'connections', target: 'mesh-empty', connections: 0, cpuParts: parts(0), engineCounts: { 'redis commands': 100 } }), run({ scenario: 'connections', target: 'mesh-idle', connections: 10_000, cpuParts: parts(2), engineCounts: { 'redis commands': 2100 } })],
  };
}

function connectionsStep(): Step {
  return { key: 'mesh-connections', phase: 'mesh', title: 'fixture connections', scenario: 'connections', targets: ['mesh-relay'], overrides: { users: 60_000 }, results: [run({ scenario: 'connections', target: 'mesh-relay', connections: 60_000, rssPerConnBytes: 20_000, heapPerConnBytes: 8_000 })] };
}

function fixtureRecord(steps: Step[]): SuiteRecord {
  return { started: '2000-01-01T00:00:00.000Z', finished: '2000-01-01T00:30:00.000Z', commit: 'fixture', runs: 1, from: 'dist', connections: 19_500, textBytes: 64, steps, mesh: { chatServers: 4, portOffset: 20_000, distDir: 'dist' }, machine: { cpu: 'fixture CPU', ramGiB: '1', kernel: 'fixture', node: 'v20', ws: '8' } };
}

/** A row of the sizing table, by its tier. */
function sizingRow(doc: string, tier: string): string {
  const section = doc.slice(doc.indexOf('## Sizing'));
  return section.split('\n').find((l) => l.startsWith(`| ${tier} |`)) ?? '';
}

function assertClean(doc: string): void {
  for (const bad of ['NaN', 'undefined', 'Infinity', 'null']) assert.ok(!doc.includes(bad), `the doc contains ${bad}`);
}

describe('capacity doc from a complete fixture record', () => {
  const doc = renderCapacityDoc(fixtureRecord([rampStep(), idleStep(), connectionsStep()]));

  it('reads the per-message figures at the ramp\'s highest sustained rate', () => {
    const i = readInputs(fixtureRecord([rampStep()]));
    assert.match(i.source?.what ?? '', /mesh-ramp at 2,000\/s/);
    assert.equal(i.cpuPer1k['chat servers'], 0.5);
    assert.equal(i.cpuPer1k['session-service'], 0.1);
    assert.equal(i.workPerMessage['redis commands'], 2);
    assert.equal(i.bytes?.kafkaPerMessage, 210);
    assert.equal(i.bytes?.commitlogPerMessage, 400);
  });

  it('sizes the chat servers by CPU once idle connections are measured', () => {
    // 690 × 0.5 = 345 cores for messages + 200M × 0.2 cores / 10k = 4,000 cores; ÷ 0.5 = 8,690 processes, 272 machines of 32.
    assert.match(sizingRow(doc, 'chat servers'), /\| 8,690 processes \| .* \| CPU \| 272 compute \|/);
  });

  it('sizes Redis by the larger of commands and CPU, with a replica per shard', () => {
    // commands: 690k × 2 + 200M × 2,000/10 s/10k = 5.38M/s ÷ 50k = 108 shards; CPU: 690 × 0.05 + 200M × 0.05/10 s/10k = 134.5 cores ÷ 0.5 = 269 shards, × 2 ÷ 8 = 68 machines.
    assert.match(sizingRow(doc, 'Redis'), /\| 269 shards \| .* \| CPU \| 68 redis \|/);
  });

  it('sizes Cassandra disk from the measured bytes at the seed\'s text', () => {
    // 400 B + (101 − 64) × 3 copies = 511 B; 230k/s × 86,400 × 511 × 3 × 2 = 60.9 TB/day; × 365 ÷ 4 TB = 5,560 nodes.
    assert.match(sizingRow(doc, 'Cassandra'), /\| 5,560 nodes \| .* \| disk \| 5,560 cassandra \|/);
    assert.match(doc, /Cassandra disk: 511 B per message/);
  });

  it('sizes Cassandra disk from flushed sstables when the record has them, and its network from the commitlog', () => {
    const ramp = rampStep();
    // 100 B per message in sstables after nodetool flush on both sides.
    ramp.dataGrowth = ramp.dataGrowth!.map((g) => ({ ...g, cassandraSstableBytes: 3_000_000, cassandraFlushed: true }));
    const flushedDoc = renderCapacityDoc(fixtureRecord([ramp, idleStep(), connectionsStep()]));
    // 100 B + (101 − 64) × 3 copies = 211 B; 230k/s × 86,400 × 211 × 3 × 2 = 25.2 TB/day; × 365 ÷ 4 TB = 2,296 nodes.
    assert.match(sizingRow(flushedDoc, 'Cassandra'), /\| 2,296 nodes \| .* \| disk \| 2,296 cassandra \|/);
    assert.match(flushedDoc, /Cassandra disk: 211 B per message \(flushed sstable bytes/);
    // The wire to Cassandra stays the commitlog's 511 B × 3 replicas at 690k/s.
    assert.match(flushedDoc, /690,000\/s × 511 B \(commitlog bytes per message\) × 3 replicas/);
  });

  it('names the tier that limits first and says linear scaling is not shown', () => {
    assert.match(doc, /limits first .*\*\*Cassandra\*\*, bound by disk with 365 days/);
    assert.match(doc, /no per-server flat-cost step/);
  });

  it('counts an idle cost below the empty mesh\'s as 0, and says so, instead of subtracting machines', () => {
    const step = idleStep();
    // The history service idled 0.1 CPU-s lower with the users than without: noise of two windows.
    step.results[1] = { ...step.results[1], cpuParts: { ...step.results[1].cpuParts, 'history-service': 0.9 }, engineCounts: { 'redis commands': 2100, 'cassandra reads': 0 } };
    step.results[0] = { ...step.results[0], cpuParts: { ...step.results[0].cpuParts, 'history-service': 1 }, engineCounts: { 'redis commands': 100, 'cassandra reads': 5 } };
    const record = fixtureRecord([rampStep(), step, connectionsStep()]);
    const i = readInputs(record);
    assert.equal(i.idle?.coresPerConn['history-service'], 0);
    assert.equal(i.idle?.workPerConnPerSec['cassandra reads'], 0);
    assert.deepEqual(i.idle?.belowNoise, ['history-service', 'cassandra reads']);
    const noisy = renderCapacityDoc(record);
    assert.match(noisy, /history-service, cassandra reads cost less than in the empty mesh/);
    assert.ok(!/\*\*-\d/.test(noisy), 'a negative number of units');
  });

  it('prints no lower bounds and no gaps where everything was measured', () => {
    const sizing = doc.slice(doc.indexOf('## Sizing'), doc.indexOf('## Network'));
    assert.ok(!sizing.includes('≥'), 'a lower bound in a fully measured sizing');
    assertClean(doc);
  });

  it('shows a flat-cost step when the record has one', () => {
    const flat: Step = { ...rampStep(), key: 'mesh-flat-cost', title: 'fixture flat cost', ramp: undefined, dataGrowth: undefined };
    const withFlat = renderCapacityDoc(fixtureRecord([rampStep(), flat]));
    assert.match(withFlat, /fixture flat cost \(step mesh-flat-cost\)/);
    assertClean(withFlat);
  });
});

describe('capacity doc from a record missing every new field', () => {
  // FIXTURE: the shape of records from before cpuParts per process, work counters, mesh-idle and data-dir growth.
  const old: SuiteRecord = { started: '2000-01-01T00:00:00.000Z', finished: '2000-01-01T00:10:00.000Z', runs: 1, from: 'dist', connections: 19_500, steps: [] };
  const doc = renderCapacityDoc(old);

  it('says "not measured" and renders no NaN or undefined', () => {
    assertClean(doc);
    assert.match(doc, /CPU per message: not measured/);
    assert.match(doc, /Work per message .*: not measured/);
    assert.match(doc, /Idle connections .*: not measured/);
    assert.match(doc, /Memory per connection: not measured/);
    assert.match(doc, /Bytes per message on disk .*: not measured/);
    assert.match(doc, /predates its field/);
    assert.match(doc, /commit not recorded/);
  });

  it('gives only lower bounds, and names what it could not size', () => {
    assert.match(sizingRow(doc, 'session-service'), /not measured/);
    assert.match(doc, /need at least/);
    assert.match(doc, /Not sized, for want of measurements: .*session-service/);
  });

  it('falls back to xs-dm-half over the relay when there is no ramp, grouped services included', () => {
    const half: Step = { key: 'xs-dm-half', phase: 'mesh', title: 'fixture half', scenario: 'dm', targets: ['mesh-relay', 'chatd'], overrides: {}, results: [run({ scenario: 'dm', target: 'mesh-relay', offeredRate: 2000, delivered: 10_000, deliveredPerSec: 1000, cpuParts: { 'chat servers': 5, services: 2, kafka: 1, cassandra: 3, redis: 0.5 } }), run({ scenario: 'dm', target: 'chatd', delivered: 1, cpuParts: { 'chat servers': 100 } })] };
    const d = renderCapacityDoc({ ...old, steps: [half] });
    assertClean(d);
    assert.match(d, /xs-dm-half over the relay, open loop at 2,000\/s/);
    assert.match(d, /delivered 50 % of the offered rate/);
    assert.match(d, /\| chat servers \| 0\.500 \|/);
    assert.match(sizingRow(d, 'sync-worker'), /not measured/);
  });
});

describe('dataGrowth', () => {
  it('counts new files whole, ignores vanished ones, and groups Kafka partitions by topic', () => {
    const before = { kafkaLogs: { '/r/kafka/data/kraft-logs/chat.messages.v1-0/0.log': 100, '/r/kafka/data/kraft-logs/old-0/0.log': 50 }, commitlog: { '/r/c/CommitLog-1.log': 4096 }, sstables: {} };
    const after = { kafkaLogs: { '/r/kafka/data/kraft-logs/chat.messages.v1-0/0.log': 300, '/r/kafka/data/kraft-logs/chat.messages.v1-1/0.log': 70 }, commitlog: { '/r/c/CommitLog-1.log': 8192, '/r/c/CommitLog-2.log': 4096 }, sstables: { '/r/d/x-Data.db': 10 } };
    assert.deepEqual(dataGrowth(before, after), { kafkaLogBytes: { 'chat.messages.v1': 270 }, cassandraCommitlogBytes: 8192, cassandraSstableBytes: 10 });
  });
});

describe('frame sizes', () => {
  it('adds the WebSocket header, its extended length and a client mask', () => {
    assert.equal(wsFrameBytes(100, false), 102);
    assert.equal(wsFrameBytes(100, true), 106);
    assert.equal(wsFrameBytes(200, false), 204);
  });

  it('grows the text-carrying frames by the text and leaves the others alone', () => {
    const a = frameSizes(64);
    const b = frameSizes(101);
    assert.equal(b.logRecord - a.logRecord, 37);
    assert.equal(b.relayDelivery - a.relayDelivery, 37);
    assert.equal(b.heartbeat, a.heartbeat);
    assert.equal(b.sendAck, a.sendAck);
  });
});

describe('sized', () => {
  it('takes the constraint that needs the most, at least the minimum, and marks a partial one', () => {
    const plan: TierPlan = { tier: 't', unit: 'u', machineKind: 'compute', perMachine: 4, copies: 1, min: 3, constraints: [{ name: 'a', units: 2.2, how: '' }, { name: 'b', units: 5.5, how: '', missing: 'x' }, { name: 'c', how: 'not measured' }] };
    const s = sized(plan);
    assert.equal(s.units, 6);
    assert.equal(s.binding?.name, 'b');
    assert.equal(s.machines, 3);
    assert.equal(s.partial, true);
    assert.equal(sized({ ...plan, constraints: [{ name: 'a', units: 1, how: '' }] }).units, 3);
  });
});

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchmarksDoc } from './benchmarks-doc';
import { issue14Table } from './issue14-doc';
import type { RunResult } from './scenarios';
import { SUITE, type Step, type SuiteRecord } from './suite-plan';

/**
 * The doc's issue #14 parts on a hand-built record: every figure below is a TEST FIXTURE chosen so
 * each target lands on a known side of its limit, not a measurement. The real bench/results.json
 * (from before these fields existed) must still render.
 */
const ROOT = join(__dirname, '..', '..');
const SERVICES = ['api-server', 'group-service', 'history-service', 'session-service', 'sync-worker'];

/** CPU-seconds per process: the chat servers share `chat`, the services and engines share `rest`. */
function parts(chat: number, rest: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 1; i <= 4; i++) out[`chat-${i}`] = chat / 4;
  for (const s of [...SERVICES, 'kafka', 'cassandra', 'redis']) out[s] = rest / 8;
  return out;
}

function dm(target: string, rate: number, o: { p99: number; lost?: number; deliveredPerSec?: number; chat: number; rest: number; relay?: number }): RunResult {
  const deliveredPerSec = o.deliveredPerSec ?? rate;
  const delivered = deliveredPerSec * 10;
  const relay = o.relay ?? 100;
  return {
    scenario: 'dm', target, mode: 'open', label: `fixture ${target} ${rate}/s`, connections: 1000, connectFailed: 0, offeredRate: rate,
    sent: rate * 10, sentInWindow: rate * 10, lost: o.lost ?? 0, delivered, deliveredPerSec,
    latencyMs: { p50: o.p99 / 4, p90: o.p99 / 2, p99: o.p99, p999: o.p99, max: o.p99, count: delivered },
    serverCpuSeconds: o.chat, cpuSecondsPer1k: o.chat / (delivered / 1000), cpuParts: parts(o.chat, o.rest),
    paths: target === 'mesh-fallback' ? { local: 0, relay: 0, fallback: delivered } : { local: 0, relay: (delivered * relay) / 100, fallback: (delivered * (100 - relay)) / 100 },
    engineCounts: { rpc: 2 * delivered, 'kafka Produce': delivered / 100, 'kafka Fetch': 50, 'cassandra statements': delivered, 'cassandra mutations': 2 * delivered, 'cassandra reads': 0, 'cassandra requests': delivered, 'redis commands': 3 * delivered },
    durationS: 10, errors: {},
  };
}

function idle(target: string, o: { users: number; open?: number; cores: number; connectPerSec?: number; connectErrors?: Record<string, number> }): RunResult {
  return {
    scenario: 'connections', target, label: `fixture ${target}`, connections: o.open ?? o.users, connectFailed: o.users - (o.open ?? o.users), connectPerSec: o.connectPerSec,
    connectErrors: o.connectErrors ?? {}, cpuParts: parts(o.cores * 10 * 0.4, o.cores * 10 * 0.6), engineCounts: { rpc: o.users / 5, 'redis commands': o.users }, sent: 0, delivered: 0, deliveredPerSec: 0, durationS: 10, errors: { ...o.connectErrors },
  };
}

function fixtureRecord(): SuiteRecord {
  const rule = SUITE.rampRule;
  const ramp: Step = {
    key: 'mesh-ramp', phase: 'mesh', title: 'fixture ramp', scenario: 'dm', targets: ['mesh-relay'], overrides: { users: 1000, mode: 'open', warmupS: 5, durationS: 10, drainS: 10 }, ratios: [],
    // Repetitions: 1,000/s then not 2,000/s (p99); 2,000/s then not 3,000/s (lost); 500/s then not 1,000/s (p99): median 1,000/s.
    ramp: { rates: [500, 1000, 2000, 3000, 4000], rule, referenceIfNone: 1000, repetitions: [{ highestSustained: 1000, stoppedAt: 2000, why: ['p99 80.0 ms > 50 ms'] }, { highestSustained: 2000, stoppedAt: 3000, why: ['5 lost after the drain'] }, { highestSustained: 500, stoppedAt: 1000, why: ['p99 60.0 ms > 50 ms'] }] },
    results: [
      dm('mesh-relay', 500, { p99: 10, chat: 1, rest: 2 }), dm('mesh-relay', 1000, { p99: 20, chat: 2, rest: 4, relay: 99.5 }), dm('mesh-relay', 2000, { p99: 80, chat: 5, rest: 8 }),
      dm('mesh-relay', 500, { p99: 10, chat: 1, rest: 2 }), dm('mesh-relay', 1000, { p99: 20, chat: 2, rest: 4, relay: 99.5 }), dm('mesh-relay', 2000, { p99: 30, chat: 4, rest: 8 }), dm('mesh-relay', 3000, { p99: 40, lost: 5, chat: 7, rest: 12 }),
      dm('mesh-relay', 500, { p99: 10, chat: 1, rest: 2 }), dm('mesh-relay', 1000, { p99: 60, chat: 2, rest: 4, relay: 99.5 }),
    ],
  };
  const group: Step = {
    key: 'mesh-group-15k', phase: 'mesh', title: 'fixture group', scenario: 'group', targets: ['mesh-relay'], overrides: { ...SUITE.meshGroup }, ratios: [],
    results: [1, 2, 3].map(() => ({ ...dm('mesh-relay', 30, { p99: 25, chat: 1, rest: 1, deliveredPerSec: 14_900 }), scenario: 'group' as const })),
  };
  const idleStep: Step = {
    key: 'mesh-idle', phase: 'mesh', title: 'fixture idle', scenario: 'connections', targets: ['mesh-empty', 'mesh-idle'], overrides: { ...SUITE.meshIdle }, perTarget: { 'mesh-empty': { users: 0 } }, differences: [['mesh-idle', 'mesh-empty']], ratios: [],
    results: [idle('mesh-empty', { users: 0, cores: 0.2 }), idle('mesh-idle', { users: 10_000, cores: 0.45, connectPerSec: 1500, connectErrors: { 'hello: error 11: GetDeviceCursors: Deadline exceeded': 2 }, open: 9998 }), idle('mesh-empty', { users: 0, cores: 0.22 }), idle('mesh-idle', { users: 10_000, cores: 0.46, connectPerSec: 1600 })],
  };
  const held: Step = { key: 'mesh-connections', phase: 'mesh', title: 'fixture 60k', scenario: 'connections', targets: ['mesh-relay'], overrides: { ...SUITE.meshConnections }, ratios: [], results: [idle('mesh-relay', { users: 60_000, cores: 1 })] };
  const fallback: Step = { key: 'mesh-fallback-1k', phase: 'mesh', title: 'fixture fallback', scenario: 'dm', targets: ['mesh-fallback'], overrides: { ...SUITE.meshFallback }, ratios: [], results: [1, 2, 3].map(() => dm('mesh-fallback', 1000, { p99: 120, chat: 3, rest: 5 })) };
  return { started: '2026-12-07T00:00:00.000Z', finished: '2026-12-07T00:30:00.000Z', commit: 'fixture', runs: 3, from: 'dist', connections: 19_500, steps: [idleStep, ramp, group, fallback, held], only: ['issue-14'], mesh: { chatServers: 4, portOffset: 20_000, distDir: 'dist' } };
}

/** The table that starts at the line `head` (up to the first blank line), as rows of trimmed cells. */
function tableAfter(doc: string, head: string): string[][] {
  const lines = doc.slice(doc.indexOf(head)).split('\n');
  const end = lines.findIndex((l) => l.trim() === '');
  return lines.slice(0, end === -1 ? undefined : end).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
}

describe('issue #14 in BENCHMARKS.md', () => {
  let dir: string;
  let doc: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-doc-'));
    writeBenchmarksDoc({ out: join(dir, 'BENCHMARKS.md'), root: ROOT, record: fixtureRecord() });
    doc = readFileSync(join(dir, 'BENCHMARKS.md'), 'utf8');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shows each target with its figure, unmet ones as **no**', () => {
    const rows = tableAfter(issue14Table(fixtureRecord().steps, false), '| #14 target');
    const met = Object.fromEntries(rows.slice(2).map(([t, m, ok]) => [t.split(' ').slice(0, 3).join(' '), [m, ok]]));
    assert.deepEqual(met['cross-server DMs sustained'], ['1,000/s (median of 3 ramps: 1,000, 2,000, 500)', '**no**']);
    // At 1,000/s: whole mesh 6 CPU-s / 10k deliveries, chat servers 2.
    assert.deepEqual(met['whole mesh CPU-s'], ['0.600 at 1,000/s, the highest sustained rate (median of 3 runs)', '**no**']);
    assert.deepEqual(met['chat servers CPU-s'], ['0.200 at 1,000/s, the highest sustained rate (median of 3 runs)', 'yes']);
    assert.deepEqual(met['deliveries over the'], ['99.5 % at 1,000/s, the highest sustained rate (median of 3 runs)', 'yes']);
    assert.deepEqual(met['cross-server group of'], ['p99 25.00 ms, 14,900 of 14,970 deliveries/s (30 msg/s)', 'yes']);
    // Run 1: (0.45 − 0.20) × 10,000 / 9,998; run 2: 0.46 − 0.22.
    assert.match(met['extra cost of'][0], /^0\.25 cores \(whole mesh: empty 0\.21, with the idle users 0\.46; median of 2 paired runs, scaled to 10,000 from runs with 9,998 open\)$/);
    assert.equal(met['extra cost of'][1], 'yes');
    assert.deepEqual(met['new connections ≥'], ['1,550/s (median of 2); 2 failed to connect or dropped in 2 runs; errors while connecting: hello: UNAVAILABLE (deadline exceeded) ×2', '**no**']);
    assert.deepEqual(met['60,000 connections held'], ['60,000 of 60,000 open at the end (errors: none)', 'yes']);
    assert.deepEqual(met['forced fallback at'], ['p99 120.00 ms, 1,000 delivered/s, 0 lost in 3 runs, 100.0 % over the fallback', '**no**']);
  });

  it('reads the cost at referenceIfNone when no rate was sustained, and says so', () => {
    const r = fixtureRecord();
    const ramp = r.steps.find((s) => s.key === 'mesh-ramp')!;
    ramp.ramp!.repetitions = [{ stoppedAt: 500, why: ['x'] }, { highestSustained: 500, stoppedAt: 1000, why: ['x'] }, { stoppedAt: 500, why: ['x'] }];
    const rows = tableAfter(issue14Table(r.steps, false), '| #14 target');
    assert.deepEqual(rows[2].slice(1), ['none (median of 3 ramps: none, 500, none)', '**no**']);
    assert.equal(rows[3][1], '0.600 at 1,000/s: no rate was sustained (median of 3 runs)');
  });

  it('gives the ramp a row per rate, where each repetition stopped, and per-rate CPU and work tables', () => {
    const rates = tableAfter(doc, '| offered/s | runs sustained');
    assert.deepEqual(rates.slice(2).map((r) => [r[0], r[1], r[6]]), [['500', '3 of 3', '0'], ['1,000', '2 of 3', '0'], ['2,000', '1 of 2', '0'], ['3,000', '0 of 1', '5']]);
    assert.match(doc, /Highest sustained rate, median of 3 repetitions: \*\*1,000\/s\*\*\. By repetition: 1: 1,000\/s, then not 2,000\/s \(p99 80\.0 ms > 50 ms\); 2: 2,000\/s, then not 3,000\/s \(5 lost after the drain\); 3: 500\/s, then not 1,000\/s/);
    const cpu = tableAfter(doc, '| offered | local %');
    assert.deepEqual(cpu[0], ['offered', 'local %', 'relay %', 'fallback %', 'chat-1', 'chat-2', 'chat-3', 'chat-4', ...SERVICES, 'kafka', 'cassandra', 'redis', 'chat servers', 'whole mesh']);
    assert.deepEqual(cpu[3].slice(-2), ['0.200', '0.600']);
    const work = tableAfter(doc, '| offered | RPCs');
    assert.deepEqual(work[0], ['offered', 'RPCs', 'Kafka Fetch', 'Kafka Produce', 'Cassandra statements', 'Cassandra mutations', 'Cassandra reads', 'Cassandra requests', 'Redis commands']);
    assert.deepEqual(work[3], ['1,000/s (median of 3)', '2.000', '0.005', '0.010', '1.000', '2.000', '0.000', '1.000', '3.000']);
  });

  it('shows the idle step in cores, with the difference of paired runs', () => {
    const cpu = tableAfter(doc, '| target | chat-1');
    assert.equal(cpu[cpu.length - 1][0], '**mesh-idle − mesh-empty** (median of 2)');
    assert.deepEqual(cpu.map((r) => r[r.length - 1]), ['whole mesh', '---:', '0.210', '0.455', '0.245']);
    assert.match(doc, /--users 0 --workers 2 --concurrency 200 --settle 5 --duration 10 {3}# mesh-empty\n.*--users 10000 --workers 2 --concurrency 200 --settle 5 --duration 10 {3}# mesh-idle\n/);
    assert.match(doc, /--rate <rate> --duration 10 --warmup 5 --drain 10 {3}# mesh-relay, <rate> = 500, 1000, 2000, 3000, 4000 until one is not sustained/);
  });

  // A record written before per-process CPU and the #14 steps existed (bench/results.json of
  // 2028777, kept as a fixture: the committed record changes with every make bench).
  it('renders a record from before per-process CPU and the #14 steps', () => {
    const old = JSON.parse(readFileSync(join(__dirname, 'testing', 'record-before-issue-14.json'), 'utf8')) as SuiteRecord;
    writeBenchmarksDoc({ out: join(dir, 'OLD.md'), root: ROOT, record: old });
    const text = readFileSync(join(dir, 'OLD.md'), 'utf8');
    // assert.ok, not assert.match: a failure must not print the whole document.
    assert.ok(!/undefined|NaN/.test(text), 'no undefined or NaN in the document');
    assert.ok(old.mesh, 'the fixture has a mesh part');
    assert.ok(/## The targets of #14 \(the mesh\)/.test(text), 'the #14 targets table is there');
    assert.ok(/\| cross-server DMs sustained [^|]*\| not run \| – \|/.test(text), 'the ramp row says not run');
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeBenchmarksDoc } from './benchmarks-doc';
import { renderCapacityDoc } from './capacity-doc';
import { dmId, flatPlan, type FlatUser } from './flat-plan';
import { readServerScrape, serverWindows, type ServerWindow } from './flat-scenario';
import { flatRows, flatTarget, flatVerdicts, runFigures } from './mesh-flat';
import { flatSection } from './mesh-flat-doc';
import type { RunResult } from './scenarios';
import { SUITE, type Step, type SuiteRecord } from './suite-plan';

/**
 * The flat-cost step: its workload's shape (flatPlan, computed, not measured), reading a chat
 * server's /metrics, and the ratio and verdict logic. Every RunResult, metrics page and figure
 * below is a TEST FIXTURE built by hand so that each criterion lands on a known side of its limit;
 * none of it is a measurement.
 */
const ROOT = join(__dirname, '..', '..');

describe('the flat workload (flatPlan)', () => {
  const N = 100;
  const R = 3;
  const by = (plan: FlatUser[]) => new Map(plan.map((u) => [u.user, u]));

  for (const S of [2, 4, 8, 16]) {
    it(`gives every one of ${S} servers the same interests: ${N} users, ${N} watched of its own and ${N} of the others`, () => {
      const plan = flatPlan(S, { users: N, remoteWatch: R }, 'p-');
      const users = by(plan);
      assert.equal(plan.length, S * N);
      plan.forEach((u, g) => assert.equal(u.server, g % S, 'user i on server i mod S'));
      for (let s = 0; s < S; s++) {
        const mine = plan.filter((u) => u.server === s);
        assert.equal(mine.length, N);
        const watched = new Set(mine.flatMap((u) => u.watch));
        const own = [...watched].filter((w) => users.get(w)!.server === s);
        assert.equal(own.length, N, `server ${s} watches each of its users`);
        assert.equal(watched.size - own.length, N, `server ${s} watches ${N} users of the others`);
        const from = new Set([...watched].filter((w) => users.get(w)!.server !== s).map((w) => users.get(w)!.server));
        assert.equal(from.size, S - 1, 'drawn from every other server');
        const remote = mine.flatMap((u) => u.watch.slice(1)).filter((w) => users.get(w)!.server !== s).length;
        assert.equal(remote / mine.flatMap((u) => u.watch).length, R / (R + 1), 'the same share of DMs to other servers');
      }
    });

    it(`sends each user's messages, typing, presence and connection changes (${S} servers) to its own server and one other only`, () => {
      const plan = flatPlan(S, { users: N, remoteWatch: R });
      const users = by(plan);
      const watchers = new Map<string, FlatUser[]>();
      for (const u of plan) for (const w of u.watch) watchers.set(w, [...(watchers.get(w) ?? []), u]);
      for (const v of plan) {
        const servers = new Set((watchers.get(v.user) ?? []).map((u) => u.server));
        assert.equal(servers.size, 2, `${v.user} is watched (and DMed) from two servers`);
        assert.ok(servers.has(v.server));
        assert.equal(watchers.get(v.user)!.length, R + 1, 'by one user of its own server and remoteWatch of one other');
      }
      for (const u of plan) {
        assert.deepEqual(u.conversations, u.watch.map((w) => dmId(u.user, w)), 'it watches exactly the users it DMs');
        assert.equal(new Set(u.watch).size, R + 1);
        assert.ok(!u.watch.includes(u.user));
      }
      // A user's remote users are on different servers where S allows, but for the few whose
      // targets wrap around the end of W(s) (at most 2 per server with these sizes).
      const bunched = plan.filter((u) => new Set(u.watch.slice(1).map((w) => users.get(w)!.server)).size < Math.min(R, S - 1));
      assert.ok(bunched.length <= 2 * S, `${bunched.length} users with remote users bunched on a server`);
    });
  }

  it('refuses a shape it cannot build', () => {
    assert.throws(() => flatPlan(1, { users: N, remoteWatch: R }), /at least 2 servers/);
    assert.throws(() => flatPlan(2, { users: 2, remoteWatch: 3 }), /remote watches/);
  });
});

describe("a chat server's figures over the window", () => {
  // FIXTURE: /metrics pages as prom-client prints them (default labels after the metric's own).
  const page = (inbox: number, kafka?: number) =>
    [
      '# HELP chat_connections Live client connections on this chat server.',
      'chat_connections{service="chat-server",instance="chat-7"} 100',
      `chat_inbox_items_total{kind="delivery",path="relay",service="chat-server",instance="chat-7"} ${inbox}`,
      `chat_inbox_items_total{kind="presence",path="fallback",service="chat-server",instance="chat-7"} ${inbox / 10}`,
      ...(kafka === undefined ? [] : [`chat_kafka_requests_total{api="Fetch",service="chat-server",instance="chat-7"} ${kafka}`, `chat_kafka_requests_total{api="Produce",service="chat-server",instance="chat-7"} ${kafka}`]),
    ].join('\n');

  it('takes the id from the instance label, and inbox items and Kafka requests by difference', () => {
    const a = readServerScrape(page(100, 10));
    const b = readServerScrape(page(400, 60));
    assert.deepEqual(a, { id: 'chat-7', inbox: { 'delivery relay': 100, 'presence fallback': 10 }, kafkaRequests: 20, connections: 100 });
    assert.deepEqual(serverWindows([a], [b], { 'chat-7': 1.5, kafka: 9 }, { 'chat-7': 1.9, kafka: 12 }), [{ id: 'chat-7', cpuSeconds: 0.4, inbox: { 'delivery relay': 300, 'presence fallback': 30 }, kafkaRequests: 100, connections: 100 }]);
  });

  it('leaves out what a server does not report', () => {
    const old = readServerScrape('chat_connections{service="chat-server",instance="chat-1"} 3');
    assert.deepEqual(serverWindows([old], [old]), [{ id: 'chat-1', cpuSeconds: undefined, inbox: undefined, kafkaRequests: undefined, connections: 3 }]);
  });
});

/** FIXTURE: a flat run on `servers` chat servers whose servers used `cpu` CPU-s and got `inbox` items each over 10 s (index i adds i % 3 to both, so medians are exercised). */
function run(servers: number, o: { cpu: number; inbox?: number; kafka?: number; errors?: Record<string, number> }): RunResult {
  const list: ServerWindow[] = Array.from({ length: servers }, (_, i) => ({
    id: `chat-${i + 1}`,
    cpuSeconds: o.cpu + (i % 3) / 100,
    inbox: o.inbox === undefined ? undefined : { 'delivery relay': o.inbox * 0.5 + (i % 3), 'event relay': o.inbox * 0.25, 'presence fallback': o.inbox * 0.125, 'connections_changed fallback': o.inbox * 0.125 },
    kafkaRequests: o.kafka,
    connections: 100,
  }));
  const cpuParts = Object.fromEntries([...list.map((s): [string, number] => [s.id, s.cpuSeconds!]), ['session-service', servers / 10], ['kafka', 1], ['cassandra', 2]]);
  return {
    scenario: 'flat', target: flatTarget(servers), mode: 'open', label: `fixture ${servers}`, connections: servers * 100, connectFailed: 0, offeredRate: servers * 10,
    sent: servers * 150, sentInWindow: servers * 100, delivered: servers * 100, deliveredPerSec: servers * 10, latencyMs: { p50: 2, p90: 4, p99: 9, p999: 12, max: 15, count: servers * 100 },
    cpuParts, servers: list, counts: { users: servers * 100, 'users subscribed': servers * 100, typing: servers * 50, churned: servers * 10 }, durationS: 10, errors: o.errors ?? {},
  };
}

function flatStep(results: RunResult[]): Step {
  return { key: 'mesh-flat', phase: 'mesh', title: 'fixture flat', scenario: 'flat', targets: SUITE.meshFlat.servers.map(flatTarget), overrides: { flat: SUITE.meshFlat.load, concurrency: 50, warmupS: 5, durationS: 10, drainS: 3 }, results, ratios: [] };
}

describe('the flat step: ratios to 2 servers and the verdict at 16', () => {
  it("takes a run's median over its servers, per second", () => {
    // Servers 0..3: CPU 0.40, 0.41, 0.42, 0.40 → median 0.405 CPU-s → 0.0405/s; deliveries 50, 51, 52, 50 → 50.5.
    const f = runFigures(run(4, { cpu: 0.4, inbox: 100, kafka: 30 }));
    assert.equal(f.cpuPerSec!.toFixed(5), '0.04050');
    assert.equal(f.inboxPerSec!.toFixed(3), '10.050');
    assert.equal(f.kafkaPerSec, 3);
    assert.equal(f.inboxByKind['delivery relay'].toFixed(3), '5.050');
    assert.equal(f.inboxByKind['presence fallback'], 1.25);
  });

  it('meets both criteria when a server costs the same at 16 as at 2, and the medians go over runs', () => {
    const rows = flatRows(flatStep([
      run(2, { cpu: 0.4, inbox: 300 }), run(4, { cpu: 0.41, inbox: 300 }), run(8, { cpu: 0.42, inbox: 310 }), run(16, { cpu: 0.44, inbox: 320 }),
      run(2, { cpu: 0.38, inbox: 300 }), run(4, { cpu: 0.4, inbox: 300 }), run(8, { cpu: 0.4, inbox: 300 }), run(16, { cpu: 0.46, inbox: 330 }),
      run(2, { cpu: 0.9, inbox: 900 }), run(16, { cpu: 0.45, inbox: 325 }),
    ]));
    assert.deepEqual(rows.map((r) => [r.servers, r.runs.length]), [[2, 3], [4, 2], [8, 2], [16, 3]]);
    // 2 servers: run medians of servers {0.40, 0.41} → 0.405, {0.38, 0.39} → 0.385, {0.90, 0.91} → 0.905: median 0.405 → 0.0405/s.
    assert.equal(rows[0].cpuPerSec!.toFixed(4), '0.0405');
    assert.equal(rows[0].cpuRatio, 1);
    // 16 servers: each run's servers 0.44…0.46 etc.: medians 0.45, 0.47, 0.46 → 0.046/s; 0.046 / 0.0405 = 1.136.
    assert.equal(rows[3].cpuRatio!.toFixed(3), '1.136');
    assert.ok(rows[3].inboxRatio! < 1.25);
    const v = flatVerdicts(rows);
    assert.deepEqual(v.map((x) => x.met), [true, true]);
    assert.match(v[0].measured, /^0\.0460 at 16 vs 0\.0405 at 2: 1\.14× \(medians of 3 and 3 runs\)$/);
  });

  it('says no when what a server consumes grows with the number of servers (every server hears everything)', () => {
    // FIXTURE of the old broadcast: inbox items per server ∝ S, CPU half fixed, half ∝ S.
    const rows = flatRows(flatStep(SUITE.meshFlat.servers.map((n) => run(n, { cpu: 0.2 + 0.05 * n, inbox: 40 * n, kafka: 100 }))));
    // Server medians 80.5, 160.5, 321, 641 items per 10 s (the fixture's i % 3 on top of 40 × S).
    assert.deepEqual(rows.map((r) => r.inboxRatio?.toFixed(2)), ['1.00', '1.99', '3.99', '7.96']);
    assert.deepEqual(rows.map((r) => r.kafkaRatio), [1, 1, 1, 1]);
    const v = flatVerdicts(rows);
    assert.deepEqual(v.map((x) => x.met), [false, false]);
    assert.match(flatSection(flatStep(SUITE.meshFlat.servers.map((n) => run(n, { cpu: 0.2 + 0.05 * n, inbox: 40 * n })))), /\| a chat server's inbox items per second at 16 chat servers ≤ 1\.25× at 2 \| 6[0-9.]+ at 16 vs 8\.[0-9] at 2: 7\.[0-9]+× [^|]*\| \*\*no\*\* \|/);
  });

  it('says not run, not met, when a server count is missing, and not measured when the servers do not count inbox items', () => {
    const missing = flatVerdicts(flatRows(flatStep([run(2, { cpu: 0.4, inbox: 100 }), run(8, { cpu: 0.4, inbox: 100 })])));
    assert.deepEqual(missing.map((x) => x.met), [undefined, undefined]);
    assert.match(missing[0].measured, /^not run: no runs on 16 chat servers$/);
    const uncounted = flatVerdicts(flatRows(flatStep([run(2, { cpu: 0.4 }), run(16, { cpu: 0.4 })])));
    assert.deepEqual(uncounted.map((x) => x.met), [true, undefined]);
    assert.match(uncounted[1].measured, /not measured/);
  });
});

describe('the flat step in BENCHMARKS.md and CAPACITY.md', () => {
  const record = (): SuiteRecord => ({
    started: '2026-12-07T00:00:00.000Z', finished: '2026-12-07T00:10:00.000Z', commit: 'fixture', runs: 1, from: 'dist', connections: 19_500, only: ['mesh-flat'], mesh: { chatServers: 4, portOffset: 20_000, distDir: 'dist' },
    steps: [flatStep(SUITE.meshFlat.servers.map((n) => run(n, { cpu: 0.4, inbox: 300, errors: n === 16 ? { 'error 8: more than 2 typing frames per second': 2 } : {} })))],
  });

  it('renders the per-server tables, the criteria, the command and the closing #16 table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-flat-'));
    try {
      writeBenchmarksDoc({ out: join(dir, 'BENCHMARKS.md'), root: ROOT, record: record() });
      const doc = readFileSync(join(dir, 'BENCHMARKS.md'), 'utf8');
      assert.doesNotMatch(doc, /undefined|NaN/);
      assert.match(doc, /\| chat servers \| CPU-s\/s \| × 2 \| inbox items\/s \| × 2 \| Kafka requests\/s \| × 2 \| deliveries \(relay\)\/s \| typing\/receipts \(relay\)\/s \| presence \(fallback\)\/s \| connection changes \(fallback\)\/s \|/);
      // 16 servers: server CPU 0.40 / 0.41 / 0.42 by i % 3, median 0.41 over 10 s; at 2 servers 0.405.
      assert.match(doc, /\| 16 \| 0\.0410 \| 1\.01× \| 30\.1 \| 1\.00× \| – \| – \| 15\.1 \| 7\.5 \| 3\.8 \| 3\.8 \|/);
      assert.match(doc, /\| 16 \| 1 \| 1,600 \(1,600\) \| 160 \| 160 \| 9\.00 \| 80\.0 \| 16\.0 \| 2 \|/);
      assert.match(doc, /run flat --cluster-dir <run dir> --server-users 100 --server-rate 10 --server-typing 5 --server-churn 0.5 --offline 1000 --remote-watch 3 --concurrency 50 --duration 10 --warmup 5 --drain 3 {3}# mesh-flat: after deploy\/local\/cluster up --chat-servers S, S = 2, 4, 8, 16/);
      assert.match(doc, /## Per-server cost as chat servers are added \(#16\)\n\n\| #16 criterion \| measured \| met\? \|\n\| --- \| --- \| --- \|\n\| a chat server's CPU-seconds per second at 16 chat servers ≤ 1\.25× at 2 \| [^|]+ \| yes \|\n\| a chat server's inbox items per second at 16 chat servers ≤ 1\.25× at 2 \| [^|]+ \| yes \|/);
      assert.match(doc, /Errors by code: mesh-flat-16: RATE_LIMITED ×2\./);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is CAPACITY.md's flat-cost step", () => {
    assert.match(renderCapacityDoc(record()), /fixture flat \(step mesh-flat\)/);
  });
});

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { headCommit, machineFacts, writeBenchmarksDoc } from './benchmarks-doc';
import { writeCapacityDoc } from './capacity-doc';
import { dataGrowth, readDataFiles } from './cluster-probe';
import { markdownRow } from './report';
import { ISSUE14_PARTS, runIssue14Steps, type MeshSuite } from './issue14-steps';
import { Mesh } from './mesh';
import { waitAtRest } from './mesh-at-rest';
import { runFlatStep } from './mesh-flat';
import { runScenario, type RunOptions, type RunResult } from './scenarios';
import { SUITE, median, type Step, type SuiteRecord, type Variant } from './suite-plan';
import type { TargetKind } from './target';

export interface SuiteOptions {
  root: string;
  runs: number;
  out: string;
  json: string;
  /** The capacity model rendered from the record at the end (default: CAPACITY.md beside `out`). */
  capacityOut?: string;
  from: 'dist' | 'tsx';
  connections: number;
  /** Parts to run: names of PARTS (embedded, mesh, issue-14) or the parts they stand for. */
  only?: string[];
  /** The built tree the mesh runs (CHAT_CLUSTER_DIST; default <root>/dist). */
  distDir: string;
  /** Keep the mesh's run dir (logs) after a successful run too. */
  keepMesh?: boolean;
  /** Runs of each connections step (its connect phase is the slowest part of the suite). */
  connectionRuns: number;
}

/** The parts `--only` can name, and what `embedded`, `mesh` and `issue-14` stand for. */
export const PARTS = {
  embedded: ['connections', 'dm', 'group', 'history'],
  mesh: ['mesh-connections', 'cross-server', 'history-cassandra', ...ISSUE14_PARTS, 'mesh-flat'],
  'issue-14': [...ISSUE14_PARTS, 'mesh-connections'],
} as const;

/**
 * Runs the standard suite. Embedded: connections (chatd vs naive relay), dm and group at max rate
 * then open loop at half of chatd's median max rate (chatd vs both relays), history on SQLite.
 * Mesh (its own engines and deploy/local/cluster, torn down at the end): history on Cassandra beside
 * SQLite, issue #14's targets (issue14-steps.ts: idle cost and a connect burst, the open-loop DM ramp
 * to the highest sustained rate, a group of 500 at 15k deliveries/s, DMs over the forced fallback),
 * dm and group with recipients on other chat servers, over the relay and with the Kafka fallback
 * forced, beside embedded chatd at the same rate, issue #16's flat per-server cost (mesh-flat.ts:
 * the same load per chat server on 2, 4, 8 and 16 of them), and 60,000 connections over the chat servers.
 * Each target is run `runs` times, alternated, so slow drift on a shared machine hits all alike.
 */
export async function runSuite(o: SuiteOptions): Promise<void> {
  const started = new Date();
  const commit = headCommit(o.root);
  const secret = randomBytes(32).toString('hex');
  const defaults: RunOptions = {
    scenario: 'dm',
    target: 'chatd',
    urls: [],
    root: o.root,
    from: o.from,
    sqliteSynchronous: 'normal',
    secret,
    nodeFlags: [],
    workers: 2,
    localAddresses: ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'],
    concurrency: 200,
    users: 1000,
    mode: 'open',
    rate: 1000,
    window: 2,
    durationS: 4,
    warmupS: 1,
    textBytes: SUITE.textBytes,
    groups: 2,
    groupSize: 500,
    sendersPerGroup: 5,
    conversations: 4,
    depth: 5000,
    pageSize: 50,
    label: '',
  };
  const selected = new Set<string>((o.only ?? ['embedded', 'mesh']).flatMap((k) => (k in PARTS ? [...PARTS[k as keyof typeof PARTS]] : [k])));
  const known = new Set<string>([...PARTS.embedded, ...PARTS.mesh]);
  const unknown = [...selected].filter((k) => !known.has(k));
  if (unknown.length) throw new Error(`--only: unknown part(s) ${unknown.join(', ')}; known: ${Object.keys(PARTS).join(', ')}, ${[...known].join(', ')}`);
  const want = (k: string) => selected.has(k);
  const steps: Step[] = [];
  const failures: string[] = [];
  let meshInfo: SuiteRecord['mesh'];
  /** The mesh and its run dir while it runs: mesh load runs record what they made the engines write there. */
  let meshRunDir: string | undefined;
  let dataMesh: Mesh | undefined;
  let interrupted = false;

  const plain: Variant = () => Promise.resolve({});
  /** Runs several steps together: for each run, each target, each step that has it (so a target's setup is shared). */
  /** Writes the record and the doc: at the end, and after every group of steps with `unfinished`. */
  const save = (unfinished: string[]) => {
    mkdirSync(dirname(o.json), { recursive: true });
    const all = [...failures, ...unfinished];
    const rec: SuiteRecord = { started: started.toISOString(), finished: new Date().toISOString(), commit, runs: o.runs, from: o.from, connections: o.connections, textBytes: SUITE.textBytes, steps, only: o.only, machine: machineFacts(o.root, meshInfo !== undefined), mesh: meshInfo, failures: all.length ? all : undefined };
    writeFileSync(o.json, `${JSON.stringify(rec, null, 2)}\n`);
    writeBenchmarksDoc({ out: o.out, root: o.root, record: rec });
    return rec;
  };
  // A run that dies later (a crash, a kill) still leaves what it measured, marked unfinished.
  const checkpoint = () => save(['the suite had not finished when this was written: the steps below are those done so far']);
  /** One run of one target of a step; its result is added to the step. */
  const runOne = async (step: Step, target: string, label: string, variant: Partial<RunOptions>): Promise<RunResult> => {
    if (!variant.measured && !['chatd', 'naive', 'coalesced'].includes(variant.target ?? target)) throw new Error(`suite: no way to run target ${target}`);
    const runDir = variant.measured && (step.scenario === 'dm' || step.scenario === 'group') ? meshRunDir : undefined;
    // Flushed on both sides, so the sstables' growth is this run's writes as stored on disk. A
    // failed flush costs the run only that figure (the record says it was not flushed).
    let cassandraFlushed = true;
    const flushed = async (dir: string) => {
      await dataMesh?.flushCassandra().catch((err: unknown) => {
        cassandraFlushed = false;
        process.stderr.write(`${label}: nodetool flush failed, sstable bytes of this run not kept: ${String(err)}\n`);
      });
      return readDataFiles(dir);
    };
    const before = runDir ? await flushed(runDir) : undefined;
    const result = await runScenario({ ...defaults, target: target as TargetKind, ...step.overrides, ...step.perTarget?.[target], ...variant, scenario: step.scenario, label });
    step.results.push(result);
    process.stderr.write(`${label}: ${markdownRow(result)}\n`);
    if (runDir && before) {
      // Read once the sync worker has written what the run sent (its Cassandra writes lag the deliveries).
      const rest = await waitAtRest(runDir, { timeoutMs: 30_000 }).catch(() => ({ atRest: false }));
      (step.dataGrowth ??= []).push({ result: step.results.length - 1, messages: result.sent, ...dataGrowth(before, await flushed(runDir)), cassandraFlushed, atRest: rest.atRest });
    }
    return result;
  };
  const runSteps = async (group: Step[], variants: Record<string, Variant> = {}, runs = o.runs) => {
    steps.push(...group);
    const targets = [...new Set(group.flatMap((s) => s.targets))];
    for (let i = 0; i < runs; i++) {
      for (const target of targets) {
        for (const step of group.filter((s) => s.targets.includes(target))) {
          await runOne(step, target, `${step.key} ${target} ${i + 1}/${runs}`, await (variants[target] ?? plain)(i));
        }
      }
    }
    checkpoint();
  };
  const medianOf = (step: Step, target: string, f: (r: RunResult) => number | undefined) => median(step.results.filter((r) => r.target === target).map(f));
  const all = ['chatd', 'naive', 'coalesced'];

  // ---------------------------------------------------------------- embedded chatd and the relays
  if (want('connections')) {
    await runSteps([{ key: 'connections', phase: 'embedded', title: `${o.connections.toLocaleString('en-US')} idle authenticated connections`, scenario: 'connections', targets: ['chatd', 'naive'], overrides: { users: o.connections, ...SUITE.connections, workers: Math.max(2, Math.ceil(o.connections / 10_000)) }, results: [] }], {}, o.connectionRuns);
  }
  if (want('dm')) {
    const max: Step = { key: 'dm-max', phase: 'embedded', title: `dm, max rate (${SUITE.dm.users} users in pairs, ${SUITE.dm.window} sends in flight each)`, scenario: 'dm', targets: all, overrides: { ...SUITE.dm, mode: 'max' }, results: [] };
    await runSteps([max]);
    const rate = Math.max(100, Math.round((medianOf(max, 'chatd', (r) => r.deliveredPerSec) ?? 2000) / 2));
    await runSteps([{ key: 'dm-half', phase: 'embedded', title: `dm, open loop at ${rate.toLocaleString('en-US')} msg/s (half of chatd's max)`, scenario: 'dm', targets: all, overrides: { ...SUITE.dm, mode: 'open', rate }, results: [] }]);
  }
  if (want('group')) {
    const g = SUITE.group;
    const max: Step = { key: 'group-max', phase: 'embedded', title: `group, max rate (${g.groups} groups of ${g.groupSize}, ${g.sendersPerGroup} senders each, ${g.window} in flight)`, scenario: 'group', targets: all, overrides: { ...g, mode: 'max' }, results: [] };
    await runSteps([max]);
    const rate = Math.max(10, Math.round((medianOf(max, 'chatd', (r) => r.deliveredPerSec) ?? 20_000) / (g.groupSize - 1) / 2));
    await runSteps([{ key: 'group-half', phase: 'embedded', title: `group, open loop at ${rate} msg/s = ${(rate * (g.groupSize - 1)).toLocaleString('en-US')} deliveries/s (half of chatd's max)`, scenario: 'group', targets: all, overrides: { ...g, mode: 'open', rate }, results: [] }]);
  }
  const h = SUITE.history;
  const historyTitle = `history, pages of ${h.pageSize} from ${h.conversations} conversations of ${h.depth.toLocaleString('en-US')} messages (one reader each, closed loop; delivered/s = pages/s)`;
  if (want('history') && !want('history-cassandra')) {
    await runSteps([{ key: 'history', phase: 'embedded', title: historyTitle, scenario: 'history', targets: ['chatd'], overrides: { ...h }, results: [] }]);
  }

  // ------------------------------------------------------------------------------------- the mesh
  const meshParts = PARTS.mesh.filter(want);
  if (meshParts.length) {
    const runDir = join(o.root, 'bench', 'run', `mesh-${started.toISOString().replace(/[:.]/g, '-')}`);
    let mesh: Mesh | undefined;
    let ok = false;
    const onSignal = (sig: NodeJS.Signals) => {
      interrupted = true;
      process.stderr.write(`${sig}: tearing the mesh down (run dir ${runDir})\n`);
      void (mesh?.stop(true) ?? Promise.resolve()).finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      mesh = await Mesh.prepare({ root: o.root, distDir: o.distDir, runDir, secret, chatServers: SUITE.mesh.chatServers, maxChatServers: want('mesh-flat') ? Math.max(...SUITE.meshFlat.servers) : undefined });
      meshRunDir = runDir;
      dataMesh = mesh;
      const m = mesh;
      meshInfo = { chatServers: SUITE.mesh.chatServers, portOffset: m.portOffset, distDir: relative(o.root, o.distDir) || '.' };
      process.stderr.write(`mesh: engines and cluster under ${runDir}, CHAT_CLUSTER_PORT_OFFSET=${m.portOffset}, built tree ${o.distDir}\n`);
      await m.startEngines();
      let prefix = 0;
      const onMesh = (relay: boolean, kind = relay ? 'mesh-relay' : 'mesh-fallback'): Variant => async () => {
        await m.ensure(relay);
        return { urls: m.wsUrls, measured: m.measured(kind), targetLabel: kind, userPrefix: `r${prefix++}-` };
      };
      const builtChatd: Variant = () => Promise.resolve({ from: 'dist', distDir: o.distDir });
      const tag = randomBytes(3).toString('hex');

      if (want('history-cassandra')) {
        // SQLite and Cassandra alternated in the same minutes (the engines idle beside both); a fresh keyspace per run, as chatd gets a fresh data dir.
        await runSteps([{ key: 'history', phase: 'mesh', title: `${historyTitle}, SQLite and Cassandra`, scenario: 'history', targets: [...(want('history') ? ['chatd'] : []), 'chatd-cassandra'], overrides: { ...h }, results: [], ratios: want('history') ? [['chatd-cassandra', 'chatd']] : [], note: "chatd-cassandra is embedded chatd with `CHAT_STORE=cassandra` on the suite's single-node Cassandra (its own keyspace per run, `LOCAL_QUORUM`), everything else as chatd; chatd stores in SQLite. Both alternate in the same minutes with the mesh's engines idle beside them." }], {
          'chatd-cassandra': (run) => Promise.resolve({ target: 'chatd', targetLabel: 'chatd-cassandra', targetEnv: m.cassandraEnv(`bench_history_${tag}_${run}`) }),
        });
      }
      const meshSuite: MeshSuite = { mesh: m, runs: o.runs, want, onMesh, runSteps, addStep: (step) => steps.push(step), runOne, checkpoint, fail: (what) => failures.push(what) };
      await runIssue14Steps(meshSuite);
      if (want('cross-server')) {
        const n = SUITE.mesh.chatServers;
        const g = SUITE.group;
        const where = `user i on chat server i mod ${n}`;
        const dmMax: Step = { key: 'xs-dm-max', phase: 'mesh', title: `cross-server dm, max rate over the relay (${SUITE.dm.users} users in pairs, ${where}: every pair straddles two servers)`, scenario: 'dm', targets: ['mesh-relay'], overrides: { ...SUITE.dm, mode: 'max', warmupS: SUITE.mesh.warmupS }, results: [], ratios: [] };
        const groupMax: Step = { key: 'xs-group-max', phase: 'mesh', title: `cross-server group, max rate over the relay (${g.groups} groups of ${g.groupSize}, ${where}: ${n - 1} in ${n} recipients on another server)`, scenario: 'group', targets: ['mesh-relay'], overrides: { ...g, mode: 'max', warmupS: SUITE.mesh.warmupS }, results: [], ratios: [] };
        await runSteps([dmMax, groupMax], { 'mesh-relay': onMesh(true) });
        const dmRate = Math.max(50, Math.round((medianOf(dmMax, 'mesh-relay', (r) => r.deliveredPerSec) ?? 1000) / 2));
        const groupRate = Math.max(2, Math.round((medianOf(groupMax, 'mesh-relay', (r) => r.deliveredPerSec) ?? 5000) / (g.groupSize - 1) / 2));
        const ratios: [string, string][] = [['mesh-fallback', 'mesh-relay'], ['mesh-relay', 'chatd'], ['mesh-fallback', 'chatd']];
        const note = `Same offered rate on the three rows: half of the relay's median max. mesh-relay and mesh-fallback are the same cluster; for mesh-fallback its chat servers were restarted with \`CHAT_RELAY_ENABLED=false\`. chatd is embedded chatd (SQLite, in-process bus) from the same built tree, for scale. "Server CPU" on the mesh rows is the chat servers' only (summed); the services, Kafka, Cassandra and Redis are in the table below.`;
        await runSteps(
          [
            { key: 'xs-dm-half', phase: 'mesh', title: `cross-server dm, open loop at ${dmRate.toLocaleString('en-US')} msg/s (half of the relay's max), relay vs Kafka fallback`, scenario: 'dm', targets: ['mesh-relay', 'mesh-fallback', 'chatd'], overrides: { ...SUITE.dm, mode: 'open', rate: dmRate, warmupS: SUITE.mesh.warmupS }, results: [], ratios, note },
            { key: 'xs-group-half', phase: 'mesh', title: `cross-server group, open loop at ${groupRate} msg/s = ${(groupRate * (g.groupSize - 1)).toLocaleString('en-US')} deliveries/s (half of the relay's max), relay vs Kafka fallback`, scenario: 'group', targets: ['mesh-relay', 'mesh-fallback', 'chatd'], overrides: { ...g, mode: 'open', rate: groupRate, warmupS: SUITE.mesh.warmupS }, results: [], ratios, note },
          ],
          { 'mesh-relay': onMesh(true), 'mesh-fallback': onMesh(false), chatd: builtChatd },
        );
      }
      // 60,000 connections leave the session service busy unregistering them for a while; mesh-flat waits for the mesh at rest.
      if (want('mesh-connections')) {
        await m.ensure(true);
        const c = SUITE.meshConnections;
        await runSteps([{ key: 'mesh-connections', phase: 'mesh', title: `${c.users.toLocaleString('en-US')} idle authenticated connections over ${SUITE.mesh.chatServers} chat servers of the mesh`, scenario: 'connections', targets: ['mesh-relay'], overrides: { ...c }, results: [], ratios: [], note: `User i connects to chat server i mod ${SUITE.mesh.chatServers}. Memory is the chat servers' (summed): RSS from /proc, heap from their own \`nodejs_heap_size_used_bytes\` gauge (no forced GC, so noisier than embedded chatd's).` }], { 'mesh-relay': onMesh(true) }, o.connectionRuns);
      }
      // Issue #16, last: the same load per chat server on 2 to 16 of them (restarts the chat servers).
      // Sixteen chat servers beside the engines can starve this 2-core box (a make bench saw the
      // Kafka broker stop answering for 5 s and a service lose its worker-id lease around the 8-server run), so
      // nothing else waits behind it.
      if (want('mesh-flat')) await runFlatStep(meshSuite);
      ok = true;
    } catch (err) {
      failures.push(`mesh: ${err instanceof Error ? err.message : String(err)}${existsSync(runDir) ? ` (logs kept in ${relative(o.root, runDir)})` : ''}`);
      process.stderr.write(`mesh failed: ${failures[failures.length - 1]}\n`);
    } finally {
      meshRunDir = undefined;
      dataMesh = undefined;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (mesh) {
        process.stderr.write('mesh: tearing down\n');
        await mesh.stop(!ok || !!o.keepMesh).catch((err: unknown) => failures.push(err instanceof Error ? err.message : String(err)));
      }
    }
  }

  if (interrupted) return; // the signal handler exits once the mesh is down; a partial run writes no report
  const record = save([]);
  const capacityOut = o.capacityOut ?? join(dirname(o.out), 'CAPACITY.md');
  writeCapacityDoc({ out: capacityOut, record });
  process.stderr.write(`wrote ${o.out}, ${capacityOut} and ${o.json}\n`);
  if (failures.length) throw new Error(`part of the suite failed (said so in ${o.out}):\n  ${failures.join('\n  ')}`);
}

/** Writes BENCHMARKS.md again from a suite's JSON record (after editing bench/NOTES.md, say), without running anything. */
export function renderSuite(o: { root: string; json: string; out: string }): void {
  const r = JSON.parse(readFileSync(o.json, 'utf8')) as SuiteRecord;
  writeBenchmarksDoc({ out: o.out, root: o.root, record: r });
}

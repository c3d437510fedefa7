import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { headCommit, writeBenchmarksDoc } from './benchmarks-doc';
import { markdownRow } from './report';
import { runScenario, type RunOptions, type RunResult } from './scenarios';
import { SUITE, median, type Step, type SuiteRecord } from './suite-plan';
import type { TargetKind } from './target';

export interface SuiteOptions {
  root: string;
  runs: number;
  out: string;
  json: string;
  from: 'dist' | 'tsx';
  connections: number;
  only?: string[];
}

/**
 * Runs the standard suite: connections (chatd vs naive relay), dm and group at max rate then open
 * loop at half of chatd's median max rate (chatd vs both relays), and history (chatd only). Each
 * target is run `runs` times, alternated, so slow drift on a shared machine hits all alike.
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
    textBytes: 64,
    groups: 2,
    groupSize: 500,
    sendersPerGroup: 5,
    conversations: 4,
    depth: 5000,
    pageSize: 50,
    label: '',
  };
  const all = ['chatd', 'naive', 'coalesced'] as TargetKind[];
  const want = (s: string) => !o.only || o.only.includes(s);
  const steps: Step[] = [];

  const runStep = async (step: Step) => {
    steps.push(step);
    for (let i = 0; i < o.runs; i++) {
      for (const target of step.targets) {
        const label = `${step.key} ${target} ${i + 1}/${o.runs}`;
        const result = await runScenario({ ...defaults, ...step.overrides, scenario: step.scenario, target, label });
        step.results.push(result);
        process.stderr.write(`${label}: ${markdownRow(result)}\n`);
      }
    }
  };
  const medianOf = (step: Step, target: TargetKind, f: (r: RunResult) => number | undefined) => median(step.results.filter((r) => r.target === target).map(f));

  if (want('connections')) {
    await runStep({ key: 'connections', title: `${o.connections.toLocaleString('en-US')} idle authenticated connections`, scenario: 'connections', targets: ['chatd', 'naive'], overrides: { users: o.connections, ...SUITE.connections, workers: Math.max(2, Math.ceil(o.connections / 10_000)) }, results: [] });
  }
  if (want('dm')) {
    const max = { key: 'dm-max', title: `dm, max rate (${SUITE.dm.users} users in pairs, ${SUITE.dm.window} sends in flight each)`, scenario: 'dm' as const, targets: all, overrides: { ...SUITE.dm, mode: 'max' as const }, results: [] };
    await runStep(max);
    const rate = Math.max(100, Math.round((medianOf(max, 'chatd', (r) => r.deliveredPerSec) ?? 2000) / 2));
    await runStep({ key: 'dm-half', title: `dm, open loop at ${rate.toLocaleString('en-US')} msg/s (half of chatd's max)`, scenario: 'dm', targets: all, overrides: { ...SUITE.dm, mode: 'open', rate }, results: [] });
  }
  if (want('group')) {
    const g = SUITE.group;
    const max = { key: 'group-max', title: `group, max rate (${g.groups} groups of ${g.groupSize}, ${g.sendersPerGroup} senders each, ${g.window} in flight)`, scenario: 'group' as const, targets: all, overrides: { ...g, mode: 'max' as const }, results: [] };
    await runStep(max);
    const deliveriesPerMsg = g.groupSize - 1;
    const rate = Math.max(10, Math.round((medianOf(max, 'chatd', (r) => r.deliveredPerSec) ?? 20_000) / deliveriesPerMsg / 2));
    await runStep({ key: 'group-half', title: `group, open loop at ${rate} msg/s = ${(rate * deliveriesPerMsg).toLocaleString('en-US')} deliveries/s (half of chatd's max)`, scenario: 'group', targets: all, overrides: { ...g, mode: 'open', rate }, results: [] });
  }
  if (want('history')) {
    const h = SUITE.history;
    await runStep({ key: 'history', title: `history, pages of ${h.pageSize} from ${h.conversations} conversations of ${h.depth.toLocaleString('en-US')} messages (one reader each, closed loop; delivered/s = pages/s)`, scenario: 'history', targets: ['chatd'], overrides: { ...h }, results: [] });
  }
  const finished = new Date();
  mkdirSync(dirname(o.json), { recursive: true });
  const record: SuiteRecord = { started: started.toISOString(), finished: finished.toISOString(), commit, runs: o.runs, from: o.from, connections: o.connections, steps };
  writeFileSync(o.json, `${JSON.stringify(record, null, 2)}\n`);
  writeBenchmarksDoc({ out: o.out, root: o.root, steps, started, finished, commit, runs: o.runs, from: o.from, connections: o.connections });
  process.stderr.write(`wrote ${o.out} and ${o.json}\n`);
}

/** Writes BENCHMARKS.md again from a suite's JSON record (after editing bench/NOTES.md, say), without running anything. */
export function renderSuite(o: { root: string; json: string; out: string }): void {
  const r = JSON.parse(readFileSync(o.json, 'utf8')) as SuiteRecord;
  writeBenchmarksDoc({ out: o.out, root: o.root, steps: r.steps, started: new Date(r.started), finished: new Date(r.finished), commit: r.commit, runs: r.runs, from: r.from, connections: r.connections });
}

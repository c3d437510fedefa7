import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { bytes, fix, num } from './report';
import type { RunResult } from './scenarios';
import { SUITE, median, type Step } from './suite-plan';
import type { TargetKind } from './target';

interface DocOptions {
  out: string;
  root: string;
  steps: Step[];
  started: Date;
  finished: Date;
  commit?: string;
  runs: number;
  from: 'dist' | 'tsx';
  connections: number;
}

type Metric = { name: string; get: (r: RunResult) => number | undefined; show: (v: number | undefined) => string; ratio?: boolean };

const METRICS: Record<string, Metric[]> = {
  connections: [
    { name: 'connections open', get: (r) => r.connections, show: num },
    { name: 'connect/s', get: (r) => r.connectPerSec, show: num, ratio: true },
    { name: 'heap/conn', get: (r) => r.heapPerConnBytes, show: bytes, ratio: true },
    { name: 'RSS/conn', get: (r) => r.rssPerConnBytes, show: bytes, ratio: true },
  ],
  load: [
    { name: 'delivered/s', get: (r) => r.deliveredPerSec, show: num, ratio: true },
    { name: 'p50 ms', get: (r) => r.latencyMs?.p50, show: (v) => fix(v) },
    { name: 'p90 ms', get: (r) => r.latencyMs?.p90, show: (v) => fix(v) },
    { name: 'p99 ms', get: (r) => r.latencyMs?.p99, show: (v) => fix(v), ratio: true },
    { name: 'p99.9 ms', get: (r) => r.latencyMs?.p999, show: (v) => fix(v) },
    { name: 'server CPU-s per 1k', get: (r) => r.cpuSecondsPer1k, show: (v) => fix(v, 3), ratio: true },
    { name: 'delivered per server CPU-s', get: (r) => r.deliveredPerCpuSecond, show: num, ratio: true },
  ],
};

function metricsOf(step: Step): Metric[] {
  return step.scenario === 'connections' ? METRICS.connections : METRICS.load;
}

function med(step: Step, target: TargetKind, m: Metric): number | undefined {
  return median(step.results.filter((r) => r.target === target).map(m.get));
}

function stepTable(step: Step): string {
  const ms = metricsOf(step);
  const lines = [`| target | ${ms.map((m) => m.name).join(' | ')} | errors |`, `| --- | ${ms.map(() => '---:').join(' | ')} | ---: |`];
  for (const t of step.targets) {
    const runs = step.results.filter((r) => r.target === t);
    const errors = runs.reduce((a, r) => a + r.connectFailed + Object.values(r.errors).reduce((x, y) => x + y, 0), 0);
    lines.push(`| ${t} (median of ${runs.length}) | ${ms.map((m) => m.show(med(step, t, m))).join(' | ')} | ${errors} |`);
  }
  for (const b of step.targets.filter((t) => t !== 'chatd')) {
    lines.push(`| **chatd / ${b}** | ${ms.map((m) => (m.ratio ? ratio(med(step, 'chatd', m), med(step, b, m)) : '')).join(' | ')} | |`);
  }
  const errs = new Map<string, number>();
  for (const r of step.results) for (const [k, v] of Object.entries(r.errors)) errs.set(`${r.target}: ${k}`, (errs.get(`${r.target}: ${k}`) ?? 0) + v);
  const notes = [...errs].map(([k, v]) => `${k} (×${v})`);
  return `${lines.join('\n')}${notes.length ? `\n\nErrors seen: ${notes.join('; ')}.` : ''}`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;
}

function find(steps: Step[], key: string): Step | undefined {
  return steps.find((s) => s.key === key);
}

function targetsTable(steps: Step[], connections: number): string {
  const get = (key: string, t: TargetKind, name: string) => {
    const s = find(steps, key);
    const m = s && metricsOf(s).find((x) => x.name === name);
    return s && m ? med(s, t, m) : undefined;
  };
  const rows: [string, string, boolean | undefined][] = [];
  const open = get('connections', 'chatd', 'connections open');
  const heapR = ratioNum(get('connections', 'chatd', 'heap/conn'), get('connections', 'naive', 'heap/conn'));
  const rssR = ratioNum(get('connections', 'chatd', 'RSS/conn'), get('connections', 'naive', 'RSS/conn'));
  rows.push([`≥ 19,500 authenticated connections in one chat-server process`, open === undefined ? 'not run' : `${num(open)} of ${num(connections)} open`, open === undefined ? undefined : open >= 19_500]);
  rows.push([`… at ≤ 1.5× the bare ws memory per connection`, heapR === undefined ? 'not run' : `heap ${heapR.toFixed(2)}×, RSS ${rssR?.toFixed(2) ?? '–'}×`, heapR === undefined ? undefined : heapR <= 1.5 && (rssR ?? 0) <= 1.5]);
  rows.push([`≥ 60,000 on the box across several chat servers`, 'not measured: needs the mesh', undefined]);
  const dmR = ratioNum(get('dm-half', 'chatd', 'delivered per server CPU-s'), get('dm-half', 'naive', 'delivered per server CPU-s'));
  const dmMaxR = ratioNum(get('dm-max', 'chatd', 'delivered per server CPU-s'), get('dm-max', 'naive', 'delivered per server CPU-s'));
  rows.push([`1:1 delivered per server CPU-second ≥ 1.0× the naive relay`, dmR === undefined ? 'not run' : `${dmR.toFixed(2)}× at half load, ${dmMaxR?.toFixed(2) ?? '–'}× at max`, dmR === undefined ? undefined : dmR >= 1]);
  const dmP99 = get('dm-half', 'chatd', 'p99 ms');
  rows.push([`1:1 p99 ≤ 10 ms at half of the max rate`, dmP99 === undefined ? 'not run' : `p99 ${fix(dmP99)} ms`, dmP99 === undefined ? undefined : dmP99 <= 10]);
  const gPerCpu = get('group-max', 'chatd', 'delivered per server CPU-s');
  rows.push([`500-member group ≥ 200k deliveries/s per server core`, gPerCpu === undefined ? 'not run' : `${num(gPerCpu)} deliveries per server CPU-second`, gPerCpu === undefined ? undefined : gPerCpu >= 200_000]);
  const gP99 = get('group-half', 'chatd', 'p99 ms');
  rows.push([`500-member group p99 ≤ 20 ms at half load`, gP99 === undefined ? 'not run' : `p99 ${fix(gP99)} ms`, gP99 === undefined ? undefined : gP99 <= 20]);
  rows.push([`cross-server over the relay p99 ≤ 20 ms; fallback over Kafka p99 ≤ 50 ms`, 'not measured: needs the mesh', undefined]);
  const hP99 = get('history', 'chatd', 'p99 ms');
  rows.push([`history page of 50: p99 ≤ 2 ms on SQLite`, hP99 === undefined ? 'not run' : `p99 ${fix(hP99)} ms`, hP99 === undefined ? undefined : hP99 <= 2]);
  rows.push([`history page of 50: p99 ≤ 15 ms on Cassandra`, 'not measured yet', undefined]);
  return ['| #6 target | measured (medians) | met? |', '| --- | --- | --- |', ...rows.map(([t, m, ok]) => `| ${t} | ${m} | ${ok === undefined ? '–' : ok ? 'yes' : '**no**'} |`)].join('\n');
}

function ratioNum(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

function sh(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

/** The short hash of HEAD, or '?'. */
export function headCommit(root: string): string {
  return sh('git', ['rev-parse', '--short', 'HEAD'], root);
}

function commandOf(step: Step, from: string): string {
  const o = step.overrides;
  const flags: string[] = [`--from ${from}`];
  if (step.scenario === 'connections') flags.push(`--users ${o.users}`, `--workers ${o.workers}`, `--duration ${SUITE.connections.durationS}`);
  if (step.scenario === 'dm') flags.push(`--users ${o.users}`, `--mode ${o.mode}`, o.mode === 'max' ? `--window ${o.window}` : `--rate ${o.rate}`);
  if (step.scenario === 'group') flags.push(`--groups ${o.groups}`, `--group-size ${o.groupSize}`, `--senders-per-group ${o.sendersPerGroup}`, `--mode ${o.mode}`, o.mode === 'max' ? `--window ${o.window}` : `--rate ${o.rate}`);
  if (step.scenario === 'history') flags.push(`--conversations ${o.conversations}`, `--depth ${o.depth}`, `--page-size ${o.pageSize}`);
  if (step.scenario !== 'connections') flags.push(`--duration ${o.durationS}`, `--warmup ${o.warmupS}`);
  return `node --import tsx cmd/loadgen/main.ts run ${step.scenario} --server <${step.targets.join('|')}> ${flags.join(' ')}`;
}

/** Writes docs/BENCHMARKS.md: machine, versions, commands, medians and ratios, targets, and the notes of bench/NOTES.md. */
export function writeBenchmarksDoc(o: DocOptions): void {
  const wsVersion = (JSON.parse(readFileSync(join(o.root, 'node_modules', 'ws', 'package.json'), 'utf8')) as { version: string }).version;
  const notesFile = join(o.root, 'bench', 'NOTES.md');
  const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8').trim() : '';
  const minutes = ((o.finished.getTime() - o.started.getTime()) / 60_000).toFixed(1);
  const doc = `# Benchmarks

Written by \`make bench\` (${o.started.toISOString()}, ${minutes} min); every run's figures are in
[\`bench/results.json\`](../bench/results.json). Issue #6 asks for these numbers next to baselines
measured on the same machine in the same run: each step below ran chatd and the bare \`ws\` relays of
[\`bench/baselines\`](../bench/baselines) ${o.runs} times each, alternated (chatd, naive, coalesced,
chatd, …), and reports medians and the ratio chatd / baseline. Embedded chatd only (in-process bus,
memory sessions, SQLite with \`CHAT_SQLITE_SYNCHRONOUS=normal\`); the mesh scenarios are not here yet.

## Machine and versions

| | |
| --- | --- |
| CPU | ${cpus().length} × ${cpus()[0]?.model ?? '?'} (nproc ${sh('nproc', [], o.root)}) |
| RAM | ${(totalmem() / 2 ** 30).toFixed(1)} GiB |
| kernel | Linux ${release()} |
| node | ${process.version} |
| ws | ${wsVersion} |
| commit | ${o.commit ?? headCommit(o.root)} at the start; chatd runs from source, so edits others made to the tree during the run are in the later runs |
| open files | 20,000 per process (hard limit) |

The loadgen (2+ worker processes) and the server share the same 2 cores, and other work was running
on the machine: absolute figures are noisy, which is why runs alternate and the ratios compare runs
made minutes apart. A figure limited by the loadgen's own CPU is called out in the reading.

## Commands

\`\`\`sh
make bench        # = node --import tsx cmd/loadgen/main.ts suite --from ${o.from} --runs ${o.runs}
\`\`\`

Each step is the same as a single run of:

\`\`\`sh
${o.steps.map((s) => commandOf(s, o.from)).join('\n')}
\`\`\`

(\`--server chatd\` starts \`cmd/chatd/main.ts\` with its own data dir, free ports, a random
\`CHAT_JWT_SECRET\`, \`CHAT_SEND_RATE_PER_SEC=1000000\` so the per-connection rate limit does not cap
the benchmark, and \`CHAT_SQLITE_SYNCHRONOUS=normal\`; \`--target ws://…/ws --secret …\` drives a
running server instead, repeated for several.)

## Results (medians)

${o.steps.map((s) => `### ${s.title}\n\n${stepTable(s)}`).join('\n\n')}

## The targets of #6 on embedded chatd

${targetsTable(o.steps, o.connections)}

${notes}
`;
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, doc);
}

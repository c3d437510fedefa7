import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { errorClassesLine } from './error-classes';
import { issue14Table, rampSection } from './issue14-doc';
import { flatCommand, flatSection, flatTargets } from './mesh-flat-doc';
import { processTable, rowsByTarget, workTable } from './mesh-tables';
import { bytes, errorsSeen, fix, num } from './report';
import type { RunOptions, RunResult } from './scenarios';
import { SUITE, median, type Step, type SuiteRecord } from './suite-plan';

interface DocOptions {
  out: string;
  root: string;
  record: SuiteRecord;
}

type Metric = { name: string; get: (r: RunResult) => number | undefined; show: (v: number | undefined) => string; ratio?: boolean };

const METRICS: Record<string, Metric[]> = {
  connections: [
    { name: 'connections open', get: (r) => r.connections, show: num },
    { name: 'connect/s', get: (r) => r.connectPerSec, show: num, ratio: true },
    { name: 'heap/conn', get: (r) => r.heapPerConnBytes, show: (v) => bytes(v), ratio: true },
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

function med(step: Step, target: string, m: Metric): number | undefined {
  return median(step.results.filter((r) => r.target === target).map(m.get));
}

function ratiosOf(step: Step): [string, string][] {
  return step.ratios ?? step.targets.filter((t) => t !== 'chatd').map((b): [string, string] => ['chatd', b]);
}

function stepTable(step: Step): string {
  if (step.ramp) return rampSection(step, step.ramp);
  if (step.scenario === 'flat') return flatSection(step);
  const ms = metricsOf(step);
  const lines = [`| target | ${ms.map((m) => m.name).join(' | ')} | errors |`, `| --- | ${ms.map(() => '---:').join(' | ')} | ---: |`];
  for (const t of step.targets) {
    const runs = step.results.filter((r) => r.target === t);
    const errors = runs.reduce((a, r) => a + r.connectFailed + Object.values(r.errors).reduce((x, y) => x + y, 0), 0);
    lines.push(`| ${t} (median of ${runs.length}) | ${ms.map((m) => m.show(med(step, t, m))).join(' | ')} | ${errors} |`);
  }
  for (const [a, b] of ratiosOf(step)) {
    lines.push(`| **${a} / ${b}** | ${ms.map((m) => (m.ratio ? ratio(med(step, a, m), med(step, b, m)) : '')).join(' | ')} | |`);
  }
  const notes = errorsSeen(step.results, (r) => r.target);
  const rows = rowsByTarget(step);
  const onMesh = step.phase === 'mesh';
  const extra = [
    processTable(step, rows),
    onMesh ? workTable(step, rows) : undefined,
    step.note,
    step.scenario === 'connections' && step.results.some((r) => r.heapAfterGc === false) ? "heap/conn of the mesh is the growth of the chat servers' own heap gauge without a forced GC." : undefined,
    notes.length ? `Errors seen: ${notes.join('; ')}.` : undefined,
    onMesh ? errorClassesLine(step.results) : undefined,
    ...(step.warnings ?? []),
  ].filter(Boolean);
  return [lines.join('\n'), ...extra].join('\n\n');
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;
}

function find(steps: Step[], key: string): Step | undefined {
  return steps.find((s) => s.key === key);
}

function targetsTable(steps: Step[], connections: number, meshFailed: boolean): string {
  const notRunMesh = meshFailed ? 'not run: the mesh failed (see "What did not run")' : 'not run';
  const get = (key: string, t: string, name: string) => {
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
  const meshOpen = get('mesh-connections', 'mesh-relay', 'connections open');
  rows.push([`≥ 60,000 on the box across several chat servers`, meshOpen === undefined ? notRunMesh : `${num(meshOpen)} of ${num(SUITE.meshConnections.users)} open over ${SUITE.mesh.chatServers} chat servers`, meshOpen === undefined ? undefined : meshOpen >= 60_000]);
  const dmR = ratioNum(get('dm-half', 'chatd', 'delivered per server CPU-s'), get('dm-half', 'naive', 'delivered per server CPU-s'));
  const dmMaxR = ratioNum(get('dm-max', 'chatd', 'delivered per server CPU-s'), get('dm-max', 'naive', 'delivered per server CPU-s'));
  rows.push([`1:1 delivered per server CPU-second ≥ 1.0× the naive relay`, dmR === undefined ? 'not run' : `${dmR.toFixed(2)}× at half load, ${dmMaxR?.toFixed(2) ?? '–'}× at max`, dmR === undefined ? undefined : dmR >= 1]);
  const dmP99 = get('dm-half', 'chatd', 'p99 ms');
  rows.push([`1:1 p99 ≤ 10 ms at half of the max rate`, dmP99 === undefined ? 'not run' : `p99 ${fix(dmP99)} ms`, dmP99 === undefined ? undefined : dmP99 <= 10]);
  const gPerCpu = get('group-max', 'chatd', 'delivered per server CPU-s');
  rows.push([`500-member group ≥ 200k deliveries/s per server core`, gPerCpu === undefined ? 'not run' : `${num(gPerCpu)} deliveries per server CPU-second`, gPerCpu === undefined ? undefined : gPerCpu >= 200_000]);
  const gP99 = get('group-half', 'chatd', 'p99 ms');
  rows.push([`500-member group p99 ≤ 20 ms at half load`, gP99 === undefined ? 'not run' : `p99 ${fix(gP99)} ms`, gP99 === undefined ? undefined : gP99 <= 20]);
  for (const [t, name, limit] of [['mesh-relay', 'cross-server over the relay', 20], ['mesh-fallback', 'cross-server over the Kafka fallback', 50]] as const) {
    const d = get('xs-dm-half', t, 'p99 ms');
    const g = get('xs-group-half', t, 'p99 ms');
    const shown = [d === undefined ? undefined : `dm p99 ${fix(d)} ms`, g === undefined ? undefined : `group p99 ${fix(g)} ms`].filter(Boolean);
    rows.push([`${name}: p99 ≤ ${limit} ms at half load`, shown.length ? shown.join(', ') : notRunMesh, shown.length ? [d, g].every((v) => v === undefined || v <= limit) : undefined]);
  }
  const hP99 = get('history', 'chatd', 'p99 ms');
  rows.push([`history page of 50: p99 ≤ 2 ms on SQLite`, hP99 === undefined ? 'not run' : `p99 ${fix(hP99)} ms`, hP99 === undefined ? undefined : hP99 <= 2]);
  const cP99 = get('history', 'chatd-cassandra', 'p99 ms');
  rows.push([`history page of 50: p99 ≤ 15 ms on Cassandra`, cP99 === undefined ? notRunMesh : `p99 ${fix(cP99)} ms (embedded chatd on Cassandra)`, cP99 === undefined ? undefined : cP99 <= 15]);
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

/** The machine and versions a suite runs on, recorded in bench/results.json (so `loadgen doc` renders the run's, not the renderer's). */
export function machineFacts(root: string, withEngines: boolean): NonNullable<SuiteRecord['machine']> {
  const engineVersion = (name: string) => process.env[`CHAT_LOCAL_${name}_VERSION`] || (/:=([^}]+)\}/.exec(sh('grep', ['-m1', `CHAT_LOCAL_${name}_VERSION:=`, join(root, 'deploy', 'local', 'lib', 'common.sh')], root))?.[1] ?? '?');
  return {
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? '?'} (nproc ${sh('nproc', [], root)})`,
    ramGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    node: process.version,
    ws: (JSON.parse(readFileSync(join(root, 'node_modules', 'ws', 'package.json'), 'utf8')) as { version: string }).version,
    engines: withEngines ? { kafka: engineVersion('KAFKA'), cassandra: engineVersion('CASSANDRA'), redis: sh('redis-server', ['--version'], root).split(' ').slice(0, 3).join(' ') } : undefined,
  };
}

/** The short hash of HEAD, or '?'. */
export function headCommit(root: string): string {
  return sh('git', ['rev-parse', '--short', 'HEAD'], root);
}

function flagsOf(step: Step, o: Partial<RunOptions>): string {
  const flags: string[] = [];
  const rate = step.ramp ? '<rate>' : o.rate;
  if (step.scenario === 'connections') flags.push(`--users ${o.users}`, `--workers ${o.workers}`, ...(o.concurrency ? [`--concurrency ${o.concurrency}`] : []), ...(o.settleS !== undefined ? [`--settle ${o.settleS}`] : []), `--duration ${o.durationS ?? SUITE.connections.durationS}`);
  if (step.scenario === 'dm') flags.push(`--users ${o.users}`, `--mode ${o.mode}`, o.mode === 'max' ? `--window ${o.window}` : `--rate ${rate}`);
  if (step.scenario === 'group') flags.push(`--groups ${o.groups}`, `--group-size ${o.groupSize}`, `--senders-per-group ${o.sendersPerGroup}`, `--mode ${o.mode}`, o.mode === 'max' ? `--window ${o.window}` : `--rate ${rate}`);
  if (step.scenario === 'history') flags.push(`--conversations ${o.conversations}`, `--depth ${o.depth}`, `--page-size ${o.pageSize}`);
  if (step.scenario !== 'connections') flags.push(`--duration ${o.durationS}`, `--warmup ${o.warmupS}`, ...(o.drainS !== undefined ? [`--drain ${o.drainS}`] : []));
  return flags.join(' ');
}

function commandOf(step: Step, from: string, mesh: SuiteRecord['mesh']): string[] {
  if (step.scenario === 'flat') return [flatCommand(step)];
  const flags = flagsOf(step, step.overrides);
  const run = `node --import tsx cmd/loadgen/main.ts run ${step.scenario}`;
  const started = step.targets.filter((t) => ['chatd', 'naive', 'coalesced'].includes(t));
  const lines: string[] = [];
  const onMesh = step.phase === 'mesh';
  if (started.length) lines.push(`${run} --server <${started.join('|')}> --from ${onMesh ? 'dist' : from} ${flags}`);
  if (step.targets.includes('chatd-cassandra')) lines.push(`CHAT_STORE=cassandra CHAT_CASSANDRA_CONTACT_POINTS=<the suite's Cassandra> ${run} --server chatd --from ${from} ${flags}`);
  if (step.targets.some((t) => t.startsWith('mesh-'))) {
    const off = mesh?.portOffset ?? 0;
    const targets = Array.from({ length: mesh?.chatServers ?? SUITE.mesh.chatServers }, (_, i) => `--target ws://127.0.0.1:${8081 + i + off}/ws`).join(' ');
    // One line per distinct set of flags (mesh-empty runs with --users 0).
    const byFlags = new Map<string, string[]>();
    for (const t of step.targets.filter((x) => x.startsWith('mesh-'))) {
      const f = flagsOf(step, { ...step.overrides, ...step.perTarget?.[t] });
      byFlags.set(f, [...(byFlags.get(f) ?? []), t]);
    }
    const rates = step.ramp ? `, <rate> = ${step.ramp.rates.join(', ')} until one is not sustained` : '';
    for (const [f, ts] of byFlags) lines.push(`${run} ${targets} --secret "$CHAT_JWT_SECRET" ${f}   # ${ts.join(', ')}${rates}`);
  }
  return lines;
}

function meshSetup(mesh: NonNullable<SuiteRecord['mesh']>): string {
  return `CHAT_LOCAL_DIR=bench/run/mesh-<start> CHAT_LOCAL_{REDIS,KAFKA,CASSANDRA}_*PORT=<free ports> deploy/local/up all
CHAT_LOCAL_DIR=… CHAT_CLUSTER_PORT_OFFSET=${mesh.portOffset} CHAT_CLUSTER_DIST=${mesh.distDir} CHAT_CLUSTER_TRACES=0 \\
  CHAT_JWT_SECRET=<random> CHAT_SEND_RATE_PER_SEC=1000000 CHAT_SEND_BURST=1000000 CHAT_SHUTDOWN_GRACE_MS=300 \\
  CHAT_RELAY_ENABLED=<true: mesh-relay | false: mesh-fallback> deploy/local/cluster up --chat-servers ${mesh.chatServers}`;
}

/** Writes docs/BENCHMARKS.md: machine, versions, commands, medians and ratios, targets, and the notes of bench/NOTES.md. */
export function writeBenchmarksDoc(o: DocOptions): void {
  const r = o.record;
  const started = new Date(r.started);
  const finished = new Date(r.finished);
  const notesFile = join(o.root, 'bench', 'NOTES.md');
  const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8').trim() : '';
  const minutes = ((finished.getTime() - started.getTime()) / 60_000).toFixed(1);
  const steps = r.steps;
  const embedded = steps.filter((s) => s.phase !== 'mesh');
  const meshSteps = steps.filter((s) => s.phase === 'mesh');
  const mc = r.machine ?? { cpu: 'not recorded', ramGiB: 'not recorded', kernel: 'not recorded', node: 'not recorded', ws: 'not recorded' };
  const versions = r.mesh && mc.engines
    ? `\n| Kafka | ${mc.engines.kafka} (deploy/local, one KRaft node) |\n| Cassandra | ${mc.engines.cassandra} (deploy/local, one node) |\n| Redis | ${mc.engines.redis} |`
    : '';
  const failures = r.failures?.length ? `\n## What did not run\n\n${r.failures.map((f) => `- ${f}`).join('\n')}\n` : '';
  const makeArgs = [r.runs !== 3 ? `BENCH_RUNS=${r.runs}` : '', r.only ? `BENCH_ONLY=${r.only.join(',')}` : ''].filter(Boolean).join(' ');
  const hasIssue14 = steps.some((s) => ['mesh-idle', 'mesh-ramp', 'mesh-group-15k', 'mesh-fallback-1k'].includes(s.key));
  const meshFailed = (r.failures ?? []).some((f) => f.startsWith('mesh'));
  const section = (title: string, list: Step[]) => (list.length ? `### ${title}\n\n${list.map((s) => `#### ${s.title}\n\n${stepTable(s)}`).join('\n\n')}` : '');
  const doc = `# Benchmarks

Written by \`make bench\` (${started.toISOString()}, ${minutes} min); every run's figures are in
[\`bench/results.json\`](../bench/results.json). Issue #6 asks for these numbers next to baselines
measured on the same machine in the same run: each step below ran its targets ${r.runs} times each
(fewer where the table says so), alternated (A, B, C, A, B, C, …), and reports medians and ratios of
medians. Embedded chatd (in-process bus, memory sessions, SQLite with \`CHAT_SQLITE_SYNCHRONOUS=normal\`)
is compared with the bare \`ws\` relays of [\`bench/baselines\`](../bench/baselines)${
    r.mesh
      ? `; the mesh (\`deploy/local/cluster\`, ${r.mesh.chatServers} chat servers, on Kafka, Redis and Cassandra that the suite started for itself) over its relay and with the Kafka fallback forced, with embedded chatd at the same rate beside it; history on Cassandra beside SQLite.${hasIssue14 ? " Issue #14's targets for the mesh have steps of their own (its table is at the end): an open-loop ramp of cross-server DMs to the highest rate the mesh sustains, a group of 500 at 15k deliveries/s, DMs over the forced Kafka fallback at 1,000/s, and the empty mesh against 10,000 idle users with their connect burst." : ''}${steps.some((s) => s.key === 'mesh-flat') ? " Issue #16's flat per-server cost runs the same load per chat server on 2 to 16 of them (its table is at the end)." : ''}`
      : `. ${r.only ? `Only ${r.only.join(', ')} ran (\`--only\`).` : 'The mesh scenarios are not in this record.'}`
  }

## Machine and versions

| | |
| --- | --- |
| CPU | ${mc.cpu} |
| RAM | ${mc.ramGiB} GiB |
| kernel | Linux ${mc.kernel} |
| node | ${mc.node} |
| ws | ${mc.ws} |${versions}
| commit | ${r.commit ?? headCommit(o.root)} at the start; embedded chatd and the baselines run from ${r.from === 'tsx' ? 'source, so edits others made to the tree during the run are in the later runs' : 'dist/ (built by make bench first)'}${r.mesh ? `; the mesh and the cross-server chatd row run the tree built before the suite (${r.mesh.distDir})` : ''} |
| open files | 20,000 per process (hard limit) |

The loadgen (2+ worker processes) and the server share the same 2 cores, and other work may have been
running on the machine: absolute figures are noisy, which is why runs alternate and the ratios
compare runs made minutes apart. On the mesh, the engines, the services and every chat server
share the same 2 cores too.

## Commands

\`\`\`sh
make bench ${makeArgs ? `${makeArgs} ` : ''}       # = make build, then node --import tsx cmd/loadgen/main.ts suite --from ${r.from} --runs ${r.runs}${r.only ? ` --only ${r.only.join(',')}` : ''}
\`\`\`

Each step is the same as a single run of:

\`\`\`sh
${steps.flatMap((s) => commandOf(s, r.from, r.mesh)).join('\n')}
\`\`\`

(\`--server chatd\` starts \`cmd/chatd/main.ts\` with its own data dir, free ports, a random
\`CHAT_JWT_SECRET\`, \`CHAT_SEND_RATE_PER_SEC=1000000\` so the per-connection rate limit does not cap
the benchmark, and \`CHAT_SQLITE_SYNCHRONOUS=normal\`; \`--target ws://…/ws --secret …\` drives a
running server instead, repeated for several: user i connects to target i mod n; \`--cluster-dir <run dir>\`
instead of the \`--target\`s also reads every process's CPU and the work counters, as the suite does.)
${
  r.mesh
    ? `
The mesh steps run against one mesh the suite starts and tears down itself (also on failure or
Ctrl-C), in its own run dir and on free ports, never the machine's shared Redis:

\`\`\`sh
${meshSetup(r.mesh)}
\`\`\`

The relay and fallback rows alternate by restarting only the chat servers (the services stay up);
each run uses fresh user ids, so nothing is replayed from an earlier run.
`
    : ''
}
## Results (medians)

${[section('Embedded chatd and the bare ws relays', embedded), section('The mesh, history on Cassandra', meshSteps)].filter(Boolean).join('\n\n')}
${failures}
## The targets of #6

${targetsTable(steps, r.connections, meshFailed)}
${
  r.mesh
    ? `
## The targets of #14 (the mesh)

${issue14Table(steps, meshFailed)}

Each row comes from a step above (mesh-ramp, mesh-group-15k, mesh-idle, mesh-connections,
mesh-fallback-1k), on the same 2 cores as the loadgen. The CPU and relay rows are read at the ramp's
highest sustained rate (the median over its repetitions), or where the row says when none was
sustained. An unmet target shows **no** with its figure.
`
    : ''
}
${flatTargets(steps) ?? ''}
${notes}
`;
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, doc);
}

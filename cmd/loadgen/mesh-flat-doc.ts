import { errorClassesLine } from './error-classes';
import { flatRows, flatVerdicts, type FlatRow } from './mesh-flat';
import { errorsSeen, fix, num } from './report';
import type { RunResult } from './scenarios';
import { SUITE, median, type Step } from './suite-plan';

/** BENCHMARKS.md's parts for the flat-cost step (mesh-flat.ts): its section, its command and the #16 table. */

const CHAT_SERVER = /^chat-\d+$/;

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function med(runs: RunResult[], f: (r: RunResult) => number | undefined): number | undefined {
  return median(runs.map(f));
}

function times(v: number | undefined): string {
  return v === undefined ? '–' : `${v.toFixed(2)}×`;
}

const KIND_NAMES: Record<string, string> = { delivery: 'deliveries', event: 'typing/receipts', presence: 'presence', connections_changed: 'connection changes' };

function kindName(key: string): string {
  const [kind, path] = key.split(' ');
  return `${KIND_NAMES[kind] ?? kind} (${path})`;
}

function loadTable(rows: FlatRow[]): string {
  const per = (r: RunResult, k: string) => (r.counts?.[k] ?? 0) / r.durationS;
  return table(
    ['chat servers', 'runs', 'users (subscribed)', 'offered DMs/s', 'delivered/s', 'p99 ms', 'typing frames/s', 'reconnects/s', 'errors'],
    rows.map(({ servers, runs }) => [
      num(servers),
      num(runs.length),
      `${num(med(runs, (r) => r.counts?.users))} (${num(med(runs, (r) => r.counts?.['users subscribed']))})`,
      num(med(runs, (r) => r.offeredRate)),
      num(med(runs, (r) => r.deliveredPerSec)),
      fix(med(runs, (r) => r.latencyMs?.p99)),
      fix(med(runs, (r) => per(r, 'typing')), 1),
      fix(med(runs, (r) => per(r, 'churned')), 1),
      num(runs.reduce((a, r) => a + r.connectFailed + Object.values(r.errors).reduce((x, y) => x + y, 0), 0)),
    ]),
  );
}

function perServerTable(rows: FlatRow[]): string {
  const base = rows[0]?.servers;
  const order = (k: string) => Object.keys(KIND_NAMES).indexOf(k.split(' ')[0]);
  const kinds = [...new Set(rows.flatMap((r) => Object.keys(r.inboxByKind)))].filter((k) => rows.some((r) => (r.inboxByKind[k] ?? 0) > 0)).sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  return table(
    ['chat servers', 'CPU-s/s', `× ${base}`, 'inbox items/s', `× ${base}`, 'Kafka requests/s', `× ${base}`, ...kinds.map((k) => `${kindName(k)}/s`)],
    rows.map((r) => [num(r.servers), fix(r.cpuPerSec, 4), times(r.cpuRatio), fix(r.inboxPerSec, 1), times(r.inboxRatio), fix(r.kafkaPerSec, 1), times(r.kafkaRatio), ...kinds.map((k) => fix(r.inboxByKind[k], 1))]),
  );
}

/** Cores of the chat servers together and of every other process, per server count: the contention the per-server figures ran beside. */
function restTable(rows: FlatRow[]): string | undefined {
  const withParts = rows.filter((r) => r.runs.some((x) => x.cpuParts));
  if (withParts.length === 0) return undefined;
  const others = [...new Set(withParts.flatMap((r) => r.runs.flatMap((x) => Object.keys(x.cpuParts ?? {}))))].filter((p) => !CHAT_SERVER.test(p));
  const cores = (r: RunResult, pick: (p: string) => boolean) => (r.cpuParts ? Object.entries(r.cpuParts).reduce((a, [p, v]) => a + (pick(p) ? v : 0), 0) / r.durationS : undefined);
  return table(
    ['chat servers', 'all chat servers', ...others, 'whole mesh'],
    withParts.map(({ servers, runs }) => [num(servers), fix(med(runs, (r) => cores(r, (p) => CHAT_SERVER.test(p))), 3), ...others.map((o) => fix(med(runs, (r) => cores(r, (p) => p === o)), 3)), fix(med(runs, (r) => cores(r, () => true)), 3)]),
  );
}

/** The "#16 item 5" table: each criterion, its figures, met or **no**. */
export function flatCriteriaTable(rows: FlatRow[]): string {
  return ['| #16 criterion | measured | met? |', '| --- | --- | --- |', ...flatVerdicts(rows).map((v) => `| ${v.criterion} | ${v.measured} | ${v.met === undefined ? '–' : v.met ? 'yes' : '**no**'} |`)].join('\n');
}

/** The section under the flat step in BENCHMARKS.md. */
export function flatSection(step: Step): string {
  const rows = flatRows(step);
  if (rows.length === 0) return 'No run finished.';
  const l = step.overrides.flat ?? SUITE.meshFlat.load;
  const rest = restTable(rows);
  const errors = errorsSeen(step.results, (r) => r.target);
  const parts = [
    `What the load did (medians of the runs; DMs and p99 from send to push; typing frames and reconnects per second of the window):\n\n${loadTable(rows)}`,
    `Per chat server (each run's median over its servers, then the median over the runs; × = ratio to ${rows[0].servers} chat servers):\n\n${perServerTable(rows)}`,
    rest ? `The rest of the mesh beside them, in cores (CPU-seconds of the window / its length, medians):\n\n${rest}` : undefined,
    flatCriteriaTable(rows),
    `Each server count ran in fresh chat servers (\`cluster up --chat-servers S\` after stopping the previous ones; the services and engines stayed up), the mesh at rest before each run, the server counts alternated run by run. Per server: ${l.users} users (user i on server i mod S), each heartbeating every 5 s, DMing and watching one user of its own server and ${l.remoteWatch} of others (spread over every other server; each server watches ${l.users} users of its own and ${l.users} of the others at every S, and only the watching side sends), ${l.msgPerSec} DMs/s and ${l.typingPerSec} typing frames/s over those DMs, ${l.churnPerSec} users/s closing their connection and reconnecting ${l.offlineMs} ms later (then subscribing again). Before the load, each user sends one DM in each of its conversations and subscribes (at most the run's --concurrency users per loadgen worker at once), and the load starts once the mesh has no work left from that setup. CPU-s/s: the server's utime + stime from /proc over the window / its length. Inbox items: \`chat_inbox_items_total\` (one per delivery, typing or receipt event, presence change or connection change handed to the server, by the relay or its Kafka delivery topic), from each server's /metrics at both ends of the window. Kafka requests: \`chat_kafka_requests_total\` where the chat servers count them ("–": they do not). Every process shares the same 2 cores, so absolute CPU includes the contention of S servers beside the services and engines; the criteria compare ratios.`,
    errors.length ? `Errors seen: ${errors.join('; ')}.` : undefined,
    errorClassesLine(step.results),
    ...(step.warnings ?? []),
  ];
  return parts.filter(Boolean).join('\n\n');
}

/** The command a run of the flat step is the same as, against a cluster with S chat servers. */
export function flatCommand(step: Step): string {
  const o = step.overrides;
  const l = o.flat ?? SUITE.meshFlat.load;
  const servers = step.targets.map((t) => t.replace(/^mesh-flat-/, '')).join(', ');
  return `node --import tsx cmd/loadgen/main.ts run flat --cluster-dir <run dir> --server-users ${l.users} --server-rate ${l.msgPerSec} --server-typing ${l.typingPerSec} --server-churn ${l.churnPerSec} --offline ${l.offlineMs} --remote-watch ${l.remoteWatch} --concurrency ${o.concurrency ?? 200} --duration ${o.durationS} --warmup ${o.warmupS} --drain ${o.drainS ?? 3}   # ${step.key}: after deploy/local/cluster up --chat-servers S, S = ${servers}`;
}

/** The closing "#16" part of BENCHMARKS.md when the record has a flat step, else undefined. */
export function flatTargets(steps: Step[]): string | undefined {
  const step = steps.find((s) => s.key === 'mesh-flat');
  if (!step) return undefined;
  return `## Per-server cost as chat servers are added (#16)

${flatCriteriaTable(flatRows(step))}

From the step mesh-flat above: the same load per chat server on ${step.targets.map((t) => t.replace(/^mesh-flat-/, '')).join(', ')} chat servers. An unmet criterion shows **no** with its figures.
`;
}

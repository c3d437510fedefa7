import { TokenIssuer } from '../../internal/auth/token-issuer';
import { Workers } from './coordinator';
import type { FlatLoad } from './flat-plan';
import { runFlat, type ServerWindow } from './flat-scenario';
import { nowUs } from './frames';
import { diff, drain, figures, measureCpu, sleepUntil, type Window } from './run-window';
import { startTarget, type Measured, type TargetKind, type TargetOptions } from './target';
import type { Sender } from './worker-protocol';

export type ScenarioName = 'connections' | 'dm' | 'group' | 'history' | 'flat';

/** Everything one run needs; a run starts its own server unless `urls` are given. */
export interface RunOptions {
  scenario: ScenarioName;
  target: TargetKind;
  /** External servers (`--target ws://…/ws`, repeatable); users are spread over them round-robin. Empty: start one. */
  urls: string[];
  root: string;
  from: TargetOptions['from'];
  sqliteSynchronous: TargetOptions['sqliteSynchronous'];
  secret: string;
  nodeFlags: string[];
  workers: number;
  localAddresses: string[];
  concurrency: number;
  /** connections, dm: users (dm pairs them); group: groups × groupSize; history: 2 per conversation. */
  users: number;
  mode: 'open' | 'max';
  /** open loop: messages per second, all senders together. */
  rate: number;
  window: number;
  durationS: number;
  warmupS: number;
  /**
   * After the window, how long to wait for messages sent in it to arrive before counting what is
   * missing as lost (dm; each message has one recipient device). Default 3 s.
   */
  drainS?: number;
  /**
   * connections: read CPU (the server's and each process's) and work counters over `durationS`
   * starting this many seconds after the last connection opened, so the window holds idle
   * connections only. Absent: CPU from before the first connect to the end of `durationS` of idle.
   */
  settleS?: number;
  textBytes: number;
  groups: number;
  groupSize: number;
  sendersPerGroup: number;
  conversations: number;
  depth: number;
  pageSize: number;
  label: string;
  /** Servers started elsewhere (the mesh) with a way to read their CPU and memory; `urls` are theirs. */
  measured?: Measured;
  /** Extra environment of the server this run starts (e.g. CHAT_STORE=cassandra). */
  targetEnv?: Record<string, string>;
  /** The row label when it is not the target kind (e.g. chatd-cassandra). */
  targetLabel?: string;
  /** The built tree for from='dist' (default <root>/dist). */
  distDir?: string;
  /** Prepended to every user id, so runs against one long-lived server do not share users. */
  userPrefix?: string;
  /** flat: the load per chat server (flat-plan.ts); the servers are `urls`, at least 2. */
  flat?: FlatLoad;
}

/** One run's figures. Server CPU and memory are null against external targets (no pid). */
export interface RunResult {
  scenario: ScenarioName;
  /** TargetKind, 'external', or the label of a measured server set (mesh-relay, chatd-cassandra, …). */
  target: string;
  mode?: 'open' | 'max';
  label: string;
  connections: number;
  connectFailed: number;
  connectPerSec?: number;
  /** connections: errors seen while connecting (the burst), apart from those seen later. */
  connectErrors?: Record<string, number>;
  heapPerConnBytes?: number;
  rssPerConnBytes?: number;
  offeredRate?: number;
  sent: number;
  /** Sends stamped inside the measured window. */
  sentInWindow?: number;
  /** dm: messages sent in the window that no recipient device had received when the drain ended. */
  lost?: number;
  delivered: number;
  deliveredPerSec: number;
  latencyMs?: { p50: number; p90: number; p99: number; p999: number; max: number; count: number };
  serverCpuSeconds?: number;
  cpuSecondsPer1k?: number;
  deliveredPerCpuSecond?: number;
  /** Mesh: CPU-seconds over the measured window of each group of processes (chat servers, services, engines). */
  cpuParts?: Record<string, number>;
  /** Mesh: deliveries handed to each path (local, relay, fallback) over the measured window. */
  paths?: Record<string, number>;
  /** Mesh: RPCs, Kafka requests, Cassandra statements, Redis commands over the measured window (EngineCounters). */
  engineCounts?: Record<string, number>;
  /** flat: each chat server's CPU, inbox items and Kafka requests over the window, in cluster order. */
  servers?: ServerWindow[];
  /** flat: what the workload did, by name (typing frames and churns in the window, rejoins, subscribed users, …). */
  counts?: Record<string, number>;
  /** connections: whether heapPerConnBytes was taken after a forced GC (false: the servers' own heap gauge). */
  heapAfterGc?: boolean;
  durationS: number;
  errors: Record<string, number>;
}

const HEARTBEAT_MS = 5000;

export async function runScenario(o: RunOptions): Promise<RunResult> {
  const started = o.measured || o.urls.length ? undefined : await startTarget({ kind: o.target, root: o.root, secret: o.secret, from: o.from, sqliteSynchronous: o.sqliteSynchronous, nodeFlags: o.nodeFlags, extraEnv: o.targetEnv, distDir: o.distDir });
  const target: Measured | undefined = o.measured ?? started;
  const urls = started ? [started.ws] : o.urls;
  try {
    const workers = await Workers.start(o.workers);
    try {
      switch (o.scenario) {
        case 'connections':
          return await connections(o, urls, workers, target);
        case 'dm':
          return await dm(o, urls, workers, target);
        case 'group':
          return await group(o, urls, workers, target);
        case 'history':
          return await history(o, urls, workers, target);
        case 'flat':
          return await runFlat(o, urls, workers, target);
        default:
          throw new Error(`unknown scenario ${String(o.scenario)}`);
      }
    } finally {
      await workers.close();
    }
  } finally {
    await started?.stop();
  }
}

function users(o: RunOptions, n: number, prefix = 'u'): string[] {
  return Array.from({ length: n }, (_, i) => `${o.userPrefix ?? ''}${prefix}${i}`);
}

function dmId(a: string, b: string): string {
  return `dm:${[a, b].sort().join(':')}`;
}

async function connect(o: RunOptions, urls: string[], workers: Workers, all: string[]) {
  const c = await workers.connect({ urls, users: all, secret: o.secret, heartbeatMs: HEARTBEAT_MS, localAddresses: o.localAddresses, concurrency: o.concurrency }, `${o.label} connect`);
  if (c.count === 0) throw new Error(`no connection opened: ${JSON.stringify(c.errors)}`);
  return c;
}

function base(o: RunOptions, target: Measured | undefined): Pick<RunResult, 'scenario' | 'target' | 'label' | 'durationS'> {
  return { scenario: o.scenario, target: o.targetLabel ?? (target ? target.kind : 'external'), label: o.label, durationS: o.durationS };
}

/**
 * Opens `users` authenticated connections and idles them with heartbeats for `durationS` (the
 * suite idles past one heartbeat interval, so every connection is live, not just opened). With no
 * users it only measures the server at rest over the same window (the mesh's idle cost).
 */
async function connections(o: RunOptions, urls: string[], workers: Workers, target?: Measured): Promise<RunResult> {
  const before = await target?.heapUsed?.();
  const rssBefore = target?.rssBytes();
  const partsBefore = o.settleS === undefined ? target?.cpuParts?.() : undefined;
  const c = o.users > 0 ? await connect(o, urls, workers, users(o, o.users)) : { count: 0, failed: 0, seconds: 0, errors: {} };
  let window: Window | undefined;
  if (o.settleS === undefined) {
    await sleepUntil(nowUs() + o.durationS * 1e6, workers, `${o.label} idle`);
  } else {
    const fromUs = nowUs() + o.settleS * 1e6;
    window = await measureCpu(target, fromUs, fromUs + o.durationS * 1e6, workers, `${o.label} idle`);
  }
  const after = await target?.heapUsed?.();
  const cpuParts = window ? window.cpuParts : diff(partsBefore, target?.cpuParts?.());
  const rep = await workers.report();
  const per = (a?: number, b?: number) => (a !== undefined && b !== undefined && c.count > 0 ? (a - b) / c.count : undefined);
  return {
    ...base(o, target),
    connections: rep.open,
    connectFailed: c.failed + (c.count - rep.open),
    connectPerSec: c.count > 0 ? c.count / c.seconds : undefined,
    connectErrors: c.errors,
    heapPerConnBytes: per(after, before),
    heapAfterGc: before === undefined ? undefined : target?.heapAfterGc,
    cpuParts,
    serverCpuSeconds: window?.cpu,
    engineCounts: window?.engineCounts,
    rssPerConnBytes: per(target?.rssBytes(), rssBefore),
    sent: 0,
    delivered: 0,
    deliveredPerSec: 0,
    errors: { ...c.errors, ...rep.errors },
  };
}

async function dm(o: RunOptions, urls: string[], workers: Workers, target?: Measured): Promise<RunResult> {
  const all = users(o, o.users - (o.users % 2));
  const c = await connect(o, urls, workers, all);
  const senders = all.map((u, i) => ({ user: u, conversationId: dmId(u, all[i ^ 1]) }));
  return load(o, workers, target, c, senders);
}

async function group(o: RunOptions, urls: string[], workers: Workers, target?: Measured): Promise<RunResult> {
  const all = users(o, o.groups * o.groupSize);
  const issuer = new TokenIssuer(o.secret, { ttlSec: 3600 });
  const httpBase = urls[0].replace(/^ws/, 'http').replace(/\/ws$/, '');
  const senders: Sender[] = [];
  for (let g = 0; g < o.groups; g++) {
    const members = all.slice(g * o.groupSize, (g + 1) * o.groupSize);
    const res = await fetch(`${httpBase}/chat.v1.GroupService/CreateGroup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await issuer.userToken(members[0])}` },
      body: JSON.stringify({ name: `bench-${g}`, memberIds: members.slice(1) }),
    });
    if (!res.ok) throw new Error(`CreateGroup: HTTP ${res.status} ${await res.text()}`);
    const { group: created } = (await res.json()) as { group: { groupId: string } };
    for (const m of members.slice(0, o.sendersPerGroup)) senders.push({ user: m, conversationId: `g:${created.groupId}` });
  }
  const c = await connect(o, urls, workers, all);
  return load(o, workers, target, c, senders);
}

/** Runs senders open loop (fixed total rate) or closed loop (max), measures the window after warm-up. */
async function load(o: RunOptions, workers: Workers, target: Measured | undefined, c: { count: number; failed: number; errors: Record<string, number> }, senders: Sender[]): Promise<RunResult> {
  const startUs = nowUs() + 300_000;
  const measureFromUs = startUs + o.warmupS * 1e6;
  const measureToUs = measureFromUs + o.durationS * 1e6;
  const runId = Math.random().toString(36).slice(2, 8);
  const total = senders.length;
  workers.dispatch((w) => {
    const mine = senders.filter((s) => workers.workerOf.get(s.user) === w);
    if (mine.length === 0) return undefined;
    return { op: 'load', mode: o.mode, runId, senders: mine, ratePerSec: (o.rate * mine.length) / total, window: o.window, textBytes: o.textBytes, startUs, measureFromUs, measureToUs };
  });
  const cpu = await measureCpu(target, measureFromUs, measureToUs, workers, o.label);
  const expected = o.scenario === 'dm' ? (await workers.report()).sentInWindow : undefined;
  await drain(workers, (o.drainS ?? 3) * 1000, expected);
  const rep = await workers.report();
  const lost = expected === undefined ? undefined : Math.max(0, rep.sentInWindow - rep.delivered);
  return { ...base(o, target), ...figures(rep, o.durationS, cpu.cpu), sentInWindow: rep.sentInWindow, lost, engineCounts: cpu.engineCounts, cpuParts: cpu.cpuParts, paths: cpu.paths, mode: o.mode, offeredRate: o.mode === 'open' ? o.rate : undefined, connections: c.count, connectFailed: c.failed, errors: { ...c.errors, ...rep.errors } };
}

async function history(o: RunOptions, urls: string[], workers: Workers, target?: Measured): Promise<RunResult> {
  const all = users(o, o.conversations * 2, 'h');
  const c = await connect(o, urls, workers, all);
  const writers = all.filter((_, i) => i % 2 === 0).map((u, k) => ({ user: u, conversationId: dmId(u, all[2 * k + 1]) }));
  const runId = Math.random().toString(36).slice(2, 8);
  const busy = [...new Set(writers.map((s) => workers.workerOf.get(s.user)!))];
  const seeded = workers.collect('seeded', busy);
  workers.showProgress(`${o.label} seed ${o.conversations}×${o.depth}`);
  workers.dispatch((w) => {
    const mine = writers.filter((s) => workers.workerOf.get(s.user) === w);
    return mine.length ? { op: 'seed', runId, senders: mine, perSender: o.depth, textBytes: o.textBytes } : undefined;
  });
  const ids: Record<string, string[]> = {};
  for (const r of await seeded) for (const [conv, list] of Object.entries(r.ids)) (ids[conv] ??= []).push(...list);
  workers.hideProgress();
  const startUs = nowUs() + 300_000;
  const measureFromUs = startUs + o.warmupS * 1e6;
  const measureToUs = measureFromUs + o.durationS * 1e6;
  workers.dispatch((w) => {
    // Readers page from anywhere deeper than one page, so every page is full.
    const readers = writers.filter((s) => workers.workerOf.get(s.user) === w).map((s) => ({ ...s, beforeIds: sortIds(ids[s.conversationId] ?? []).slice(o.pageSize) }));
    return readers.length ? { op: 'history', readers, limit: o.pageSize, startUs, measureFromUs, measureToUs } : undefined;
  });
  const cpu = await measureCpu(target, measureFromUs, measureToUs, workers, o.label);
  await sleepUntil(nowUs() + 200_000);
  const rep = await workers.report();
  return { ...base(o, target), ...figures({ ...rep, delivered: rep.pages }, o.durationS, cpu.cpu), cpuParts: cpu.cpuParts, connections: c.count, connectFailed: c.failed, errors: { ...c.errors, ...rep.errors } };
}

function sortIds(ids: string[]): string[] {
  return ids.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
}

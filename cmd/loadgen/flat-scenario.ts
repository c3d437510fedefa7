import { parseMetrics } from '../../internal/telemetry/metrics-parse';
import type { Workers } from './coordinator';
import { flatPlan, workerShare } from './flat-plan';
import { nowUs } from './frames';
import { diff, drain, figures, sleepUntil } from './run-window';
import type { RunOptions, RunResult } from './scenarios';
import type { Measured } from './target';

/** What one chat server did over a flat run's window. */
export interface ServerWindow {
  /** Its server id (chat-1, …): the `instance` label of its /metrics. */
  id: string;
  /** CPU-seconds it used over the window (utime + stime from /proc); absent without pid files (--target). */
  cpuSeconds?: number;
  /** Items handed to its inbox over the window by `<kind> <path>` (chat_inbox_items_total); absent if it does not count them. */
  inbox?: Record<string, number>;
  /** Kafka requests it sent over the window (chat_kafka_requests_total, every API); absent if it does not count them. */
  kafkaRequests?: number;
  /** Its live client connections at the window's end (chat_connections). */
  connections?: number;
}

/** One scrape of one chat server: the figures {@link ServerWindow} takes differences of. */
export interface ServerScrape {
  id: string;
  inbox?: Record<string, number>;
  kafkaRequests?: number;
  connections?: number;
}

const HEARTBEAT_MS = 5000;
/** How long the setup retries subscriptions the history does not allow yet (the sync worker writes each DM's first message). */
const SETUP_DEADLINE_MS = 30_000;

/** Reads the figures of one chat server's /metrics page. */
export function readServerScrape(text: string): ServerScrape {
  const id = /\binstance="([^"]*)"/.exec(text)?.[1] ?? '?';
  let inbox: Record<string, number> | undefined;
  let kafka: number | undefined;
  let connections: number | undefined;
  for (const [k, v] of parseMetrics(text)) {
    if (k.startsWith('chat_inbox_items_total{')) {
      const key = `${/kind="(\w+)"/.exec(k)?.[1] ?? '?'} ${/path="(\w+)"/.exec(k)?.[1] ?? '?'}`;
      (inbox ??= {})[key] = (inbox[key] ?? 0) + v;
    } else if (k.startsWith('chat_kafka_requests_total')) kafka = (kafka ?? 0) + v;
    else if (k === 'chat_connections') connections = v;
  }
  return { id, inbox, kafkaRequests: kafka, connections };
}

/** Each chat server's figures over a window, from its scrapes at both ends and the CPU of every process at both ends. */
export function serverWindows(a: ServerScrape[], b: ServerScrape[], cpuA?: Record<string, number>, cpuB?: Record<string, number>): ServerWindow[] {
  return b.map((end, i) => {
    const start = a[i];
    const cpu = cpuA?.[end.id] !== undefined && cpuB?.[end.id] !== undefined ? Math.round((cpuB[end.id] - cpuA[end.id]) * 1000) / 1000 : undefined;
    return {
      id: end.id,
      cpuSeconds: cpu,
      inbox: diff(start?.inbox, end.inbox),
      kafkaRequests: start?.kafkaRequests !== undefined && end.kafkaRequests !== undefined ? end.kafkaRequests - start.kafkaRequests : undefined,
      connections: end.connections,
    };
  });
}

/** The counts of every phase summed by key (connecting, setting up, the load). */
function addCounts(...phases: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of phases) for (const [k, v] of Object.entries(p)) out[k] = (out[k] ?? 0) + v;
  return out;
}

async function scrape(urls: string[]): Promise<ServerScrape[]> {
  return Promise.all(
    urls.map(async (ws) => {
      const http = ws.replace(/^ws/, 'http').replace(/\/ws$/, '');
      const res = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`GET ${http}/metrics: HTTP ${res.status}`);
      return readServerScrape(await res.text());
    }),
  );
}

/**
 * The flat-cost scenario against the chat servers `urls` (S = their number): `o.flat.users` users
 * per server (flat-plan.ts) connect, set up their DMs and presence subscriptions, then send DMs,
 * typing frames and churn at the fixed per-server rates of `o.flat` from a warm-up through the
 * window. Each server's CPU, inbox items and Kafka requests are read at both ends of the window;
 * the mesh-wide figures (CPU per process, delivery paths, work counters) as for dm.
 */
export async function runFlat(o: RunOptions, urls: string[], workers: Workers, target?: Measured): Promise<RunResult> {
  const load = o.flat;
  if (!load) throw new Error('flat: no per-server load given');
  if (urls.length < 2) throw new Error(`flat needs at least 2 chat servers (got ${urls.length}): --cluster-dir, or --target for each`);
  const plan = flatPlan(urls.length, load, o.userPrefix);
  const c = await workers.connect({ urls, users: plan.map((u) => u.user), secret: o.secret, heartbeatMs: HEARTBEAT_MS, localAddresses: o.localAddresses, concurrency: o.concurrency }, `${o.label} connect`);
  if (c.count === 0) throw new Error(`no connection opened: ${JSON.stringify(c.errors)}`);
  const mine = (w: number) => plan.filter((u) => workers.workerOf.get(u.user) === w);
  const runId = Math.random().toString(36).slice(2, 8);

  const ready = workers.collect('flatReady');
  workers.showProgress(`${o.label} setup`);
  workers.dispatch((w) => ({ op: 'flatSetup', runId, users: mine(w).map(({ user, conversations, watch }) => ({ user, conversations, watch })), retryMs: 500, deadlineMs: Date.now() + SETUP_DEADLINE_MS, concurrency: o.concurrency }));
  const setup = await ready;
  workers.hideProgress();
  const setupErrors = (await workers.report()).errors;
  // The seeds' deliveries and history writes, and the subscriptions, finish before the load
  // starts, so the window measures the per-server load and not the setup's tail.
  const settle = await target?.settled?.();
  if (settle && !settle.atRest) setupErrors[`setup: the mesh still busy ${settle.waitedS.toFixed(0)} s after it (${settle.last.work} RPCs, deliveries and sync writes in the last 2 s)`] = 1;

  const startUs = nowUs() + 300_000;
  const fromUs = startUs + o.warmupS * 1e6;
  const toUs = fromUs + o.durationS * 1e6;
  workers.dispatch((w) => {
    const users = mine(w);
    if (users.length === 0) return undefined;
    const share = (perServer: number) => workerShare(perServer, users.length, load.users);
    return {
      op: 'flatLoad',
      runId,
      // User-major, users in global order: consecutive sends go to consecutive servers' users, each user's DMs in turn.
      pairs: users.flatMap((u) => u.conversations.map((conversationId) => ({ user: u.user, conversationId }))),
      ratePerSec: share(load.msgPerSec),
      typingPerSec: share(load.typingPerSec),
      // From the other end of the list than the sends.
      churn: users.map((u) => u.user).reverse(),
      churnPerSec: share(load.churnPerSec),
      offlineMs: load.offlineMs,
      textBytes: o.textBytes,
      startUs,
      measureFromUs: fromUs,
      measureToUs: toUs,
    };
  });
  workers.showProgress(o.label);
  await sleepUntil(fromUs);
  const partsA = target?.cpuParts?.();
  const [scrapeA, pathsA, countsA] = await Promise.all([scrape(urls), target?.counters?.(), target?.engineCounts?.()]);
  await sleepUntil(toUs);
  const partsB = target?.cpuParts?.();
  const [scrapeB, pathsB, countsB] = await Promise.all([scrape(urls), target?.counters?.(), target?.engineCounts?.()]);
  workers.hideProgress();
  await drain(workers, (o.drainS ?? 3) * 1000);
  const rep = await workers.report();

  const cpuParts = diff(partsA, partsB);
  const servers = serverWindows(scrapeA, scrapeB, partsA, partsB);
  const chatCpu = servers.every((s) => s.cpuSeconds !== undefined) ? servers.reduce((a, s) => a + (s.cpuSeconds ?? 0), 0) : undefined;
  const subscribed = setup.reduce((a, r) => a + r.subscribed, 0);
  return {
    scenario: 'flat',
    target: o.targetLabel ?? (target ? target.kind : 'external'),
    label: o.label,
    durationS: o.durationS,
    mode: 'open',
    offeredRate: load.msgPerSec * urls.length,
    ...figures(rep, o.durationS, chatCpu),
    sentInWindow: rep.sentInWindow,
    cpuParts,
    paths: diff(pathsA, pathsB),
    engineCounts: diff(countsA, countsB),
    servers,
    counts: { ...rep.counts, users: plan.length, 'users subscribed': subscribed },
    connections: c.count,
    connectFailed: c.failed,
    errors: addCounts(c.errors, setupErrors, rep.errors),
  };
}

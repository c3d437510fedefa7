import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';

/** What a mesh is doing, from its processes' /metrics summed over the cluster. */
export interface Activity {
  /** Live client connections on the chat servers. */
  connections: number;
  /**
   * Running total of client-driven work: gRPC calls served (but session heartbeats, chat servers'
   * lease renewals and health checks, which an empty mesh makes too: 16 chat servers renew about
   * 10 leases a second), deliveries handed to a path, sync-worker writes.
   */
  work: number;
}

/** Client-driven work two reads one sample apart may still differ by while the mesh counts as at rest. */
export const REST_WORK_PER_SAMPLE = 10;

/** The figures of one scrape of every process (parseMetrics of their pages, summed). */
export function activityOf(samples: ReadonlyMap<string, number>): Activity {
  let connections = 0;
  let work = 0;
  for (const [k, v] of samples) {
    if (k === 'chat_connections') connections += v;
    else if (k.startsWith('chat_rpc_calls_total{') && !/Heartbeat|RenewServerLease|grpc\.health/.test(k)) work += v;
    else if (k.startsWith('chat_deliveries_total{') || k.startsWith('chat_sync_writes_total{')) work += v;
  }
  return { connections, work };
}

/**
 * At rest between two reads: no client connected, and (almost) no client-driven work done between
 * them. With `usersStay`, connected clients may remain (settled: what they did before is done).
 */
export function atRest(a: Activity, b: Activity, usersStay = false): boolean {
  return (usersStay || b.connections === 0) && b.work - a.work <= REST_WORK_PER_SAMPLE;
}

/** One scrape of every chat server and service listed in the run dir's cluster.json. */
export async function readActivity(runDir: string): Promise<Activity> {
  const c = JSON.parse(readFileSync(join(runDir, 'cluster.json'), 'utf8')) as { chatServers: { http: string }[]; services?: { http: string }[] };
  const pages = await Promise.all(
    [...c.chatServers, ...(c.services ?? [])].map(async ({ http }) => {
      const res = await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`GET ${http}/metrics: HTTP ${res.status}`);
      return res.text();
    }),
  );
  return activityOf(parseMetrics(pages.join('\n')));
}

export interface RestResult {
  atRest: boolean;
  waitedS: number;
  /** The last sample: connections, and work done over it. */
  last: { connections: number; work: number };
}

/**
 * Waits until the mesh is at rest (see {@link atRest}) over one `sampleMs`: the users of the run
 * before have gone, their unregistrations are done and the sync worker has caught up. Gives up
 * after `timeoutMs` and says so (the caller records it); a process whose /metrics fails throws.
 */
export async function waitAtRest(runDir: string, o: { sampleMs?: number; timeoutMs?: number; usersStay?: boolean } = {}): Promise<RestResult> {
  const sampleMs = o.sampleMs ?? 2000;
  const started = Date.now();
  let a = await readActivity(runDir);
  for (;;) {
    await new Promise((r) => setTimeout(r, sampleMs));
    const b = await readActivity(runDir);
    const last = { connections: b.connections, work: b.work - a.work };
    const waitedS = (Date.now() - started) / 1000;
    if (atRest(a, b, o.usersStay)) return { atRest: true, waitedS, last };
    if (Date.now() - started >= (o.timeoutMs ?? 60_000)) return { atRest: false, waitedS, last };
    a = b;
  }
}

import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import type { ToParent, ToWorker, WorkerReport } from './worker-protocol';

/** Largest number of connections one worker holds: below the 20,000 open-file limit per process, with room. */
export const MAX_CONNS_PER_WORKER = 18_000;

/** A merged phase report of every worker. */
export interface PhaseReport {
  sent: number;
  sentInWindow: number;
  acked: number;
  delivered: number;
  pages: number;
  open: number;
  errors: Record<string, number>;
  /** Other counts of the phase by name (WorkerReport.counts). */
  counts: Record<string, number>;
  latency: hdr.Histogram;
}

/**
 * The loadgen's worker processes: forks them, splits users between them, sends each its command
 * and merges what they report. Prints a progress line while a phase runs.
 */
export class Workers {
  private readonly procs: ChildProcess[] = [];
  private readonly progress = new Map<ChildProcess, { open: number; sent: number; delivered: number; pages: number }>();
  /** Which worker holds each user. */
  readonly workerOf = new Map<string, number>();
  private progressTimer?: NodeJS.Timeout;

  private constructor(readonly count: number) {}

  static async start(count: number): Promise<Workers> {
    const w = new Workers(count);
    const file = join(__dirname, `worker${__filename.endsWith('.ts') ? '.ts' : '.js'}`);
    await Promise.all(
      Array.from({ length: count }, () => {
        const proc = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        w.procs.push(proc);
        proc.on('message', (m: ToParent) => {
          if (m.op === 'progress') w.progress.set(proc, m);
        });
        return w.next(proc, 'ready');
      }),
    );
    return w;
  }

  private next<T extends ToParent['op']>(proc: ChildProcess, op: T): Promise<Extract<ToParent, { op: T }>> {
    return new Promise((resolve, reject) => {
      // A worker that already died would never answer: fail the step instead of waiting forever.
      if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`a loadgen worker had exited (${proc.exitCode ?? proc.signalCode}) before '${op}'`));
      const onMessage = (m: ToParent) => {
        if (m.op !== op) return;
        proc.off('message', onMessage);
        proc.off('exit', onExit);
        resolve(m as Extract<ToParent, { op: T }>);
      };
      const onExit = (code: number | null) => reject(new Error(`a loadgen worker exited (${code}) while waiting for '${op}'`));
      proc.on('message', onMessage);
      proc.once('exit', onExit);
    });
  }

  /** Connects users, split into contiguous blocks (one per worker); resolves with totals. */
  async connect(opts: { urls: string[]; users: string[]; secret: string; heartbeatMs: number; localAddresses: string[]; concurrency: number }, label: string): Promise<{ count: number; failed: number; seconds: number; errors: Record<string, number> }> {
    const per = Math.ceil(opts.users.length / this.count);
    if (per > MAX_CONNS_PER_WORKER) throw new Error(`${per} connections per worker is over ${MAX_CONNS_PER_WORKER}: use more workers`);
    this.showProgress(label);
    const replies = await Promise.all(
      this.procs.map((proc, w) => {
        const users = opts.users.slice(w * per, (w + 1) * per);
        users.forEach((u) => this.workerOf.set(u, w));
        const targetOf = users.map((_, i) => (w * per + i) % opts.urls.length);
        const waiting = this.next(proc, 'connected');
        this.send(proc, { op: 'connect', urls: opts.urls, users, targetOf, secret: opts.secret, heartbeatMs: opts.heartbeatMs, localAddresses: opts.localAddresses, concurrency: opts.concurrency });
        return waiting;
      }),
    );
    this.hideProgress();
    const errors: Record<string, number> = {};
    for (const r of replies) mergeCounts(errors, r.errors);
    return { count: sum(replies.map((r) => r.count)), failed: sum(replies.map((r) => r.failed)), seconds: Math.max(...replies.map((r) => r.seconds)), errors };
  }

  /** Sends each worker its own command (built from the users it holds). */
  dispatch(build: (worker: number) => ToWorker | undefined): void {
    this.procs.forEach((proc, w) => {
      const cmd = build(w);
      if (cmd) this.send(proc, cmd);
    });
  }

  /** Waits for one `op` answer from each worker in `which`. */
  collect<T extends ToParent['op']>(op: T, which: number[] = this.procs.map((_, i) => i)): Promise<Extract<ToParent, { op: T }>[]> {
    return Promise.all(which.map((w) => this.next(this.procs[w], op)));
  }

  async report(): Promise<PhaseReport> {
    const waiting = this.collect('report');
    this.procs.forEach((p) => this.send(p, { op: 'report' }));
    return mergeReports(await waiting);
  }

  /** Sum of the workers' latest progress counters. */
  totals(): { open: number; sent: number; delivered: number; pages: number } {
    const t = { open: 0, sent: 0, delivered: 0, pages: 0 };
    for (const p of this.progress.values()) {
      t.open += p.open;
      t.sent += p.sent;
      t.delivered += p.delivered;
      t.pages += p.pages;
    }
    return t;
  }

  showProgress(label: string, extra?: () => string): void {
    this.hideProgress();
    const tty = process.stderr.isTTY;
    let last = this.totals();
    let lastAt = Date.now();
    this.progressTimer = setInterval(() => {
      const t = this.totals();
      const s = (Date.now() - lastAt) / 1000;
      const line = `[${label}] open ${t.open}  sent ${t.sent} (${Math.round((t.sent - last.sent) / s)}/s)  delivered ${t.delivered} (${Math.round((t.delivered - last.delivered) / s)}/s)${t.pages ? `  pages ${t.pages}` : ''}${extra ? `  ${extra()}` : ''}`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
      last = t;
      lastAt = Date.now();
    }, tty ? 1000 : 2000);
  }

  hideProgress(): void {
    if (!this.progressTimer) return;
    clearInterval(this.progressTimer);
    this.progressTimer = undefined;
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  }

  async close(): Promise<void> {
    this.hideProgress();
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null) return resolve();
            p.once('exit', () => resolve());
            this.send(p, { op: 'close' });
            setTimeout(() => p.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  }

  private send(proc: ChildProcess, msg: ToWorker): void {
    if (proc.connected) proc.send(msg);
  }
}

function mergeReports(reports: WorkerReport[]): PhaseReport {
  const latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const errors: Record<string, number> = {};
  const counts: Record<string, number> = {};
  for (const r of reports) {
    latency.add(hdr.decodeFromCompressedBase64(r.latency));
    mergeCounts(errors, r.errors);
    mergeCounts(counts, r.counts);
  }
  return { sent: sum(reports.map((r) => r.sent)), sentInWindow: sum(reports.map((r) => r.sentInWindow)), acked: sum(reports.map((r) => r.acked)), delivered: sum(reports.map((r) => r.delivered)), pages: sum(reports.map((r) => r.pages)), open: sum(reports.map((r) => r.open)), errors, counts, latency };
}

function mergeCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

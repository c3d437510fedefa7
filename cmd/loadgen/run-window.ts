import type { PhaseReport, Workers } from './coordinator';
import { nowUs } from './frames';
import type { Measured } from './target';

/** The measured window of a run and the waits around it, shared by the scenarios (scenarios.ts, flat-scenario.ts). */

export function figures(rep: PhaseReport, durationS: number, cpu: number | undefined) {
  const h = rep.latency;
  const ms = (p: number) => Math.round(h.getValueAtPercentile(p)) / 1000;
  return {
    sent: rep.sent,
    delivered: rep.delivered,
    deliveredPerSec: rep.delivered / durationS,
    latencyMs: h.totalCount ? { p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9), max: h.maxValue / 1000, count: h.totalCount } : undefined,
    serverCpuSeconds: cpu,
    cpuSecondsPer1k: cpu !== undefined && rep.delivered ? cpu / (rep.delivered / 1000) : undefined,
    deliveredPerCpuSecond: cpu ? rep.delivered / cpu : undefined,
  };
}

export interface Window {
  cpu?: number;
  cpuParts?: Record<string, number>;
  paths?: Record<string, number>;
  engineCounts?: Record<string, number>;
}

/** Server CPU-seconds between two instants (from /proc), and on the mesh the CPU of each process group and the delivery paths. */
export async function measureCpu(target: Measured | undefined, fromUs: number, toUs: number, workers: Workers, label: string): Promise<Window> {
  workers.showProgress(label);
  await sleepUntil(fromUs);
  const a = target?.cpuSeconds();
  const partsA = target?.cpuParts?.();
  const [pathsA, countsA] = await Promise.all([target?.counters?.(), target?.engineCounts?.()]);
  await sleepUntil(toUs);
  const b = target?.cpuSeconds();
  const partsB = target?.cpuParts?.();
  const [pathsB, countsB] = await Promise.all([target?.counters?.(), target?.engineCounts?.()]);
  workers.hideProgress();
  return { cpu: a !== undefined && b !== undefined ? b - a : undefined, cpuParts: diff(partsA, partsB), paths: diff(pathsA, pathsB), engineCounts: diff(countsA, countsB) };
}

export function diff(a: Record<string, number> | undefined, b: Record<string, number> | undefined): Record<string, number> | undefined {
  if (!a || !b) return undefined;
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, Math.round((v - (a[k] ?? 0)) * 1000) / 1000]));
}

/**
 * Waits for in-flight messages to land, at most `maxMs`: until `expected` deliveries arrived when
 * it is known (a message on a slow path still counts, a lost one never does), else until
 * deliveries stop growing.
 */
export async function drain(workers: Workers, maxMs: number, expected?: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  while (Date.now() < deadline) {
    await sleepUntil(nowUs() + (expected === undefined ? 300_000 : 100_000));
    const d = workers.totals().delivered;
    if (expected !== undefined ? d >= expected : d === last) return;
    last = d;
  }
}

export function sleepUntil(atUs: number, workers?: Workers, label?: string): Promise<void> {
  if (workers && label) workers.showProgress(label);
  return new Promise((resolve) =>
    setTimeout(() => {
      workers?.hideProgress();
      resolve();
    }, Math.max(0, (atUs - nowUs()) / 1000)),
  );
}

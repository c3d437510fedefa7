import type { RunResult } from './scenarios';

/** Header of the Markdown table `markdownRow` fills. */
export const MARKDOWN_HEADER = [
  '| scenario | target | conns | offered/s | delivered/s | p50 ms | p90 ms | p99 ms | p99.9 ms | server CPU-s per 1k | delivered per CPU-s | connect/s | heap/conn | RSS/conn | errors |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
].join('\n');

export function markdownRow(r: RunResult): string {
  const l = r.latencyMs;
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0) + r.connectFailed;
  return `| ${r.scenario}${r.mode ? ` ${r.mode}` : ''} | ${r.target} | ${r.connections} | ${num(r.offeredRate)} | ${num(r.deliveredPerSec)} | ${fix(l?.p50)} | ${fix(l?.p90)} | ${fix(l?.p99)} | ${fix(l?.p999)} | ${fix(r.cpuSecondsPer1k, 3)} | ${num(r.deliveredPerCpuSecond)} | ${num(r.connectPerSec)} | ${bytes(r.heapPerConnBytes)} | ${bytes(r.rssPerConnBytes)} | ${errors} |`;
}

export function num(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
}

export function fix(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

export function bytes(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : `${(v / 1024).toFixed(1)} KB`;
}

/** `<label>: <error> (×n)` for every error the runs counted, summed per label and error, in first-seen order. */
export function errorsSeen(results: RunResult[], labelOf: (r: RunResult) => string): string[] {
  const errs = new Map<string, number>();
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errs.set(`${labelOf(r)}: ${k}`, (errs.get(`${labelOf(r)}: ${k}`) ?? 0) + v);
  return [...errs].map(([k, v]) => `${k} (×${v})`);
}

import { showErrorClasses } from './error-classes';
import { chatServersCpu, pathShare, processTable, wholeMeshCpu, workTable, type RowGroup } from './mesh-tables';
import { rampSummary, rampVerdict, runsAt } from './mesh-ramp';
import { errorsSeen, fix, num } from './report';
import type { RunResult } from './scenarios';
import { SUITE, median, type RampRecord, type Step } from './suite-plan';

/** BENCHMARKS.md's parts for issue #14: the ramp step's section and the targets table. */

function med(runs: RunResult[], f: (r: RunResult) => number | undefined): number | undefined {
  return median(runs.map(f));
}

function errorCount(r: RunResult): number {
  return r.connectFailed + Object.values(r.errors).reduce((a, b) => a + b, 0);
}

function per1k(v: number | undefined, r: RunResult): number | undefined {
  return v === undefined || !r.delivered ? undefined : v / (r.delivered / 1000);
}

/** The section of a ramp step: a row per rate, where each repetition stopped, CPU per process and work per delivery by rate. */
export function rampSection(step: Step, ramp: RampRecord): string {
  const rows: RowGroup[] = ramp.rates.map((rate) => ({ rate, runs: runsAt(step, rate) })).filter((g) => g.runs.length).map(({ rate, runs }) => ({ label: `${num(rate)}/s (median of ${runs.length})`, target: `${rate}`, runs }));
  const lines = [
    '| offered/s | runs sustained | delivered/s | p50 ms | p90 ms | p99 ms | lost | relay % | server CPU-s per 1k | errors |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(({ target, runs }) => {
      const ok = runs.filter((r) => rampVerdict(r, ramp.rule).sustained).length;
      const cells = [num(Number(target)), `${ok} of ${runs.length}`, num(med(runs, (r) => r.deliveredPerSec)), fix(med(runs, (r) => r.latencyMs?.p50)), fix(med(runs, (r) => r.latencyMs?.p90)), fix(med(runs, (r) => r.latencyMs?.p99)), num(med(runs, (r) => r.lost)), fix(med(runs, (r) => pathShare(r, 'relay')), 1), fix(med(runs, (r) => r.cpuSecondsPer1k), 3), num(runs.reduce((a, r) => a + errorCount(r), 0))];
      return `| ${cells.join(' | ')} |`;
    }),
  ];
  const s = rampSummary(ramp);
  const reps = ramp.repetitions.map((rep, i) => {
    if (rep.stoppedAt === undefined) return `${i + 1}: every rate sustained`;
    const extra = rep.referenceRun ? `, then ${num(rep.referenceRun)}/s once for the cost figures` : '';
    return `${i + 1}: ${rep.highestSustained ? `${num(rep.highestSustained)}/s, then` : 'none,'} not ${num(rep.stoppedAt)}/s (${(rep.why ?? []).join('; ')})${extra}`;
  });
  const summary = ramp.repetitions.length ? `Highest sustained rate, median of ${ramp.repetitions.length} repetition${ramp.repetitions.length === 1 ? '' : 's'}: **${s.median ? `${num(s.median)}/s` : 'none'}**. By repetition: ${reps.join('; ')}.` : 'No repetition ran.';
  const errors = errorsSeen(step.results, (r) => `${num(r.offeredRate)}/s`);
  const extra = [summary, processTable(step, rows), workTable(step, rows), step.note, errors.length ? `Errors seen: ${errors.join('; ')}.` : undefined, ...(step.warnings ?? [])];
  return [lines.join('\n'), ...extra.filter(Boolean)].join('\n\n');
}

type Row = [target: string, measured: string, met: boolean | undefined];

function find(steps: Step[], key: string): Step | undefined {
  return steps.find((s) => s.key === key);
}

function of(step: Step | undefined, target: string): RunResult[] {
  return step?.results.filter((r) => r.target === target) ?? [];
}

function rampRows(steps: Step[], notRun: string): Row[] {
  const step = find(steps, 'mesh-ramp');
  const ramp = step?.ramp;
  const rule = ramp?.rule ?? SUITE.rampRule;
  const rows: Row[] = [];
  const sustained = `cross-server DMs sustained (delivered ≥ ${Math.round(rule.deliveredShare * 100)} % of offered, none lost, p99 ≤ ${rule.maxP99Ms} ms) ≥ 3,000/s`;
  if (!step || !ramp || ramp.repetitions.length === 0) {
    return [[sustained, notRun, undefined], ['whole mesh CPU-s per 1k DMs ≤ 0.5', notRun, undefined], ['chat servers CPU-s per 1k DMs ≤ 0.25', notRun, undefined], ['deliveries over the relay at that rate ≥ 99 %', notRun, undefined]];
  }
  const s = rampSummary(ramp);
  const highest = s.highest.map((h) => (h ? num(h) : 'none')).join(', ');
  rows.push([sustained, `${s.median ? `${num(s.median)}/s` : 'none'} (median of ${s.highest.length} ramps: ${highest})`, (s.median ?? 0) >= 3000]);
  // The cost figures: at the highest sustained rate; if none, at referenceIfNone; if the ramp never got there, where it stopped.
  let at = s.at;
  let which = s.sustained ? `at ${num(at)}/s, the highest sustained rate` : `at ${num(at)}/s: no rate was sustained`;
  if (runsAt(step, at).length === 0) {
    at = Math.max(...step.results.map((r) => r.offeredRate ?? 0));
    which = `at ${num(at)}/s, where the ramp stopped: no rate was sustained and ${num(s.at)}/s never ran`;
  }
  const runs = runsAt(step, at);
  const whole = med(runs, (r) => per1k(wholeMeshCpu(r), r));
  const chat = med(runs, (r) => per1k(chatServersCpu(r), r));
  const relay = med(runs, (r) => pathShare(r, 'relay'));
  const n = `median of ${runs.length} run${runs.length === 1 ? '' : 's'}`;
  rows.push(['whole mesh CPU-s per 1k DMs ≤ 0.5', whole === undefined ? 'not measured' : `${fix(whole, 3)} ${which} (${n})`, whole === undefined ? undefined : whole <= 0.5]);
  rows.push(['chat servers CPU-s per 1k DMs ≤ 0.25', chat === undefined ? 'not measured' : `${fix(chat, 3)} ${which} (${n})`, chat === undefined ? undefined : chat <= 0.25]);
  rows.push(['deliveries over the relay at that rate ≥ 99 %', relay === undefined ? 'not measured' : `${fix(relay, 1)} % ${which} (${n})`, relay === undefined ? undefined : relay >= 99]);
  return rows;
}

function groupRow(steps: Step[], notRun: string): Row {
  const step = find(steps, 'mesh-group-15k');
  const runs = of(step, 'mesh-relay');
  const name = 'cross-server group of 500 at 15k deliveries/s: p99 ≤ 30 ms (delivering ≥ 95 % of them)';
  const p99 = med(runs, (r) => r.latencyMs?.p99);
  if (!step || p99 === undefined) return [name, step ? 'nothing delivered' : notRun, step ? false : undefined];
  const offered = (step.overrides.rate ?? 0) * ((step.overrides.groupSize ?? 1) - 1);
  const delivered = med(runs, (r) => r.deliveredPerSec) ?? 0;
  return [name, `p99 ${fix(p99)} ms, ${num(delivered)} of ${num(offered)} deliveries/s (${step.overrides.rate} msg/s)`, p99 <= 30 && delivered >= 0.95 * offered];
}

function idleRows(steps: Step[], notRun: string): Row[] {
  const step = find(steps, 'mesh-idle');
  const empty = of(step, 'mesh-empty');
  const idle = of(step, 'mesh-idle');
  const users = step?.overrides.users ?? SUITE.meshIdle.users;
  const idleName = `extra cost of ${num(users)} idle users ≤ 0.3 cores`;
  const rateName = `new connections ≥ 2,000/s (a burst of ${num(users)}, none refused)`;
  if (!step || idle.length === 0) return [[idleName, notRun, undefined], [rateName, notRun, undefined]];
  const cores = (r: RunResult) => { const c = wholeMeshCpu(r); return c === undefined ? undefined : c / r.durationS; };
  // Runs paired in order (each idle window seconds after its empty one); scaled to `users` when some did not connect.
  const extra = idle.slice(0, empty.length).map((r, i) => { const a = cores(r); const b = cores(empty[i]); return a === undefined || b === undefined || r.connections === 0 ? undefined : ((a - b) * users) / r.connections; });
  const x = median(extra);
  const short = idle.filter((r) => r.connections < users).map((r) => num(r.connections));
  const scaledNote = short.length ? `, scaled to ${num(users)} from runs with ${short.join(', ')} open` : '';
  const rows: Row[] = [[idleName, x === undefined ? 'not measured' : `${fix(x, 2)} cores (whole mesh: empty ${fix(med(empty, cores), 2)}, with the idle users ${fix(med(idle, cores), 2)}; median of ${extra.length} paired runs${scaledNote})`, x === undefined ? undefined : x <= 0.3]];
  const rate = med(idle, (r) => r.connectPerSec);
  const failed = idle.reduce((a, r) => a + r.connectFailed, 0);
  const burst: Record<string, number> = {};
  for (const r of idle) for (const [k, v] of Object.entries(r.connectErrors ?? {})) burst[k] = (burst[k] ?? 0) + v;
  rows.push([rateName, rate === undefined ? 'not measured' : `${num(rate)}/s (median of ${idle.length}); ${num(failed)} failed to connect or dropped in ${idle.length} runs; errors while connecting: ${showErrorClasses(burst)}`, rate === undefined ? undefined : rate >= 2000 && failed === 0]);
  return rows;
}

function heldRow(steps: Step[], notRun: string): Row {
  const runs = of(find(steps, 'mesh-connections'), 'mesh-relay');
  const want = SUITE.meshConnections.users;
  const open = med(runs, (r) => r.connections);
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return [`${num(want)} connections held`, open === undefined ? notRun : `${num(open)} of ${num(want)} open at the end (errors: ${showErrorClasses(errors)})`, open === undefined ? undefined : open >= want];
}

function fallbackRow(steps: Step[], notRun: string): Row {
  const step = find(steps, 'mesh-fallback-1k');
  const runs = of(step, 'mesh-fallback');
  const name = `forced fallback at ${num(step?.overrides.rate ?? SUITE.meshFallback.rate)} DMs/s: p99 ≤ 100 ms (none lost)`;
  const p99 = med(runs, (r) => r.latencyMs?.p99);
  if (!step || p99 === undefined) return [name, step ? 'nothing delivered' : notRun, step ? false : undefined];
  const lost = runs.reduce((a, r) => a + (r.lost ?? 0), 0);
  return [name, `p99 ${fix(p99)} ms, ${num(med(runs, (r) => r.deliveredPerSec))} delivered/s, ${num(lost)} lost in ${runs.length} runs, ${fix(med(runs, (r) => pathShare(r, 'fallback')), 1)} % over the fallback`, p99 <= 100 && lost === 0];
}

/** The "Issue #14 targets" table: one row per target, its figure, and whether it was met (unmet: **no**, never tuned away). */
export function issue14Table(steps: Step[], meshFailed: boolean): string {
  const notRun = meshFailed ? 'not run: the mesh failed (see "What did not run")' : 'not run';
  const rows: Row[] = [...rampRows(steps, notRun), groupRow(steps, notRun), ...idleRows(steps, notRun), heldRow(steps, notRun), fallbackRow(steps, notRun)];
  return ['| #14 target | measured (medians) | met? |', '| --- | --- | --- |', ...rows.map(([t, m, ok]) => `| ${t} | ${m} | ${ok === undefined ? '–' : ok ? 'yes' : '**no**'} |`)].join('\n');
}

import { fix, num } from './report';
import type { RunResult } from './scenarios';
import { median, type RampRecord, type RampRule, type Step } from './suite-plan';

/**
 * The open-loop ramp of issue #14: the same load at rising rates, each run judged by
 * {@link rampVerdict}, until the first rate that is not sustained. Its figure is the highest
 * sustained rate, the median over repetitions.
 */

/** Whether one run sustained its offered rate under `rule`, and each condition it broke. */
export function rampVerdict(r: RunResult, rule: RampRule): { sustained: boolean; why: string[] } {
  const why: string[] = [];
  const offered = r.offeredRate ?? 0;
  if (!(r.deliveredPerSec >= rule.deliveredShare * offered)) why.push(`delivered ${num(r.deliveredPerSec)}/s < ${Math.round(rule.deliveredShare * 100)} % of ${num(offered)}/s`);
  if (r.lost === undefined) why.push('lost messages not counted');
  else if (r.lost > rule.maxLost) why.push(`${num(r.lost)} lost after the drain`);
  const p99 = r.latencyMs?.p99;
  if (p99 === undefined) why.push('nothing delivered in the window');
  else if (p99 > rule.maxP99Ms) why.push(`p99 ${fix(p99, 1)} ms > ${rule.maxP99Ms} ms`);
  return { sustained: why.length === 0, why };
}

/**
 * Runs `runs` repetitions of the ramp: each goes up `ramp.rates` until a rate is not sustained,
 * records where it stopped and why in `ramp.repetitions`, then calls `afterRepetition` (the
 * suite saves what it has). A repetition that stops below `referenceIfNone` runs that rate once
 * more (`referenceRun`), so the cost figures exist where they are read when nothing is sustained;
 * it does not change where the ramp stopped. `runAt` runs and records one rate of repetition `run` (0-based).
 */
export async function runRamp(ramp: RampRecord, runs: number, runAt: (rate: number, run: number) => Promise<RunResult>, afterRepetition: () => void): Promise<void> {
  for (let i = 0; i < runs; i++) {
    const rep: RampRecord['repetitions'][number] = {};
    ramp.repetitions.push(rep);
    for (const rate of ramp.rates) {
      const v = rampVerdict(await runAt(rate, i), ramp.rule);
      if (!v.sustained) {
        rep.stoppedAt = rate;
        rep.why = v.why;
        break;
      }
      rep.highestSustained = rate;
    }
    if (rep.stoppedAt !== undefined && rep.stoppedAt < ramp.referenceIfNone && ramp.rates.includes(ramp.referenceIfNone)) {
      await runAt(ramp.referenceIfNone, i);
      rep.referenceRun = ramp.referenceIfNone;
    }
    afterRepetition();
  }
}

export interface RampSummary {
  /** Highest sustained rate of each repetition; 0 where not even the first rate was. */
  highest: number[];
  /** Their median (undefined: no repetition ran). */
  median?: number;
  /** The rate the cost figures are read at: the highest ramp rate ≤ the median, else `referenceIfNone`. */
  at: number;
  /** Whether `at` is a sustained rate (false: none was, and `at` is `referenceIfNone`). */
  sustained: boolean;
}

export function rampSummary(ramp: RampRecord): RampSummary {
  const highest = ramp.repetitions.map((r) => r.highestSustained ?? 0);
  const m = median(highest);
  const at = m === undefined ? undefined : ramp.rates.filter((r) => r <= m).pop();
  return { highest, median: m, at: at ?? ramp.referenceIfNone, sustained: at !== undefined };
}

/** The ramp's runs at one offered rate, in the order they ran. */
export function runsAt(step: Step, rate: number): RunResult[] {
  return step.results.filter((r) => r.offeredRate === rate);
}

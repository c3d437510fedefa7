import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rampSummary, rampVerdict, runRamp, runsAt } from './mesh-ramp';
import type { RunResult } from './scenarios';
import type { RampRecord, Step } from './suite-plan';

// Test fixtures: hand-built results, not measurements.
const RULE = { deliveredShare: 0.95, maxLost: 0, maxP99Ms: 50 };
const RATES = [500, 1000, 2000, 3000, 4000];

function fixture(rate: number, o: { deliveredPerSec?: number; lost?: number; p99?: number | null } = {}): RunResult {
  const deliveredPerSec = o.deliveredPerSec ?? rate;
  const p99 = o.p99 === undefined ? 10 : o.p99;
  return {
    scenario: 'dm',
    target: 'mesh-relay',
    mode: 'open',
    label: `fixture ${rate}/s`,
    connections: 1000,
    connectFailed: 0,
    offeredRate: rate,
    sent: rate * 10,
    sentInWindow: rate * 10,
    lost: 'lost' in o ? o.lost : 0,
    delivered: deliveredPerSec * 10,
    deliveredPerSec,
    latencyMs: p99 === null ? undefined : { p50: 1, p90: 5, p99, p999: p99, max: p99, count: deliveredPerSec * 10 },
    durationS: 10,
    errors: {},
  };
}

function ramp(): RampRecord {
  return { rates: RATES, rule: RULE, referenceIfNone: 1000, repetitions: [] };
}

describe('rampVerdict', () => {
  it('sustains a run that delivers the rate, loses nothing and keeps p99 within the limit', () => {
    assert.deepEqual(rampVerdict(fixture(2000, { deliveredPerSec: 1900, p99: 50 }), RULE), { sustained: true, why: [] });
  });

  it('names every broken condition', () => {
    const v = rampVerdict(fixture(3000, { deliveredPerSec: 2849, lost: 12, p99: 71.25 }), RULE);
    assert.equal(v.sustained, false);
    assert.deepEqual(v.why, ['delivered 2,849/s < 95 % of 3,000/s', '12 lost after the drain', 'p99 71.3 ms > 50 ms']);
  });

  it('does not sustain a run whose losses were not counted or that delivered nothing', () => {
    assert.deepEqual(rampVerdict(fixture(500, { lost: undefined }), RULE).why, ['lost messages not counted']);
    assert.deepEqual(rampVerdict(fixture(500, { deliveredPerSec: 0, p99: null }), RULE).why, ['delivered 0/s < 95 % of 500/s', 'nothing delivered in the window']);
  });
});

describe('runRamp', () => {
  it('goes up the rates and stops at the first that is not sustained, saying why', async () => {
    // Fixture mesh: p99 grows past 50 ms from 3,000/s in repetition 1, from 2,000/s in repetition 2.
    const limit = [3000, 2000];
    const ran: string[] = [];
    const r = ramp();
    let saved = 0;
    await runRamp(r, 2, (rate, run) => {
      ran.push(`${run}:${rate}`);
      return Promise.resolve(fixture(rate, { p99: rate >= limit[run] ? 80 : 20 }));
    }, () => saved++);
    assert.deepEqual(ran, ['0:500', '0:1000', '0:2000', '0:3000', '1:500', '1:1000', '1:2000']);
    assert.deepEqual(r.repetitions, [
      { highestSustained: 2000, stoppedAt: 3000, why: ['p99 80.0 ms > 50 ms'] },
      { highestSustained: 1000, stoppedAt: 2000, why: ['p99 80.0 ms > 50 ms'] },
    ]);
    assert.equal(saved, 2);
  });

  it('records a repetition that sustains nothing, and one that sustains every rate', async () => {
    const r = ramp();
    const ran: string[] = [];
    await runRamp(r, 2, (rate, run) => {
      ran.push(`${run}:${rate}`);
      return Promise.resolve(fixture(rate, { lost: run === 0 ? 3 : 0 }));
    }, () => undefined);
    // Repetition 1 stopped below referenceIfNone: 1,000/s ran once more for the cost figures.
    assert.deepEqual(r.repetitions, [{ stoppedAt: 500, why: ['3 lost after the drain'], referenceRun: 1000 }, { highestSustained: 4000 }]);
    assert.deepEqual(ran, ['0:500', '0:1000', '1:500', '1:1000', '1:2000', '1:3000', '1:4000']);
  });
});

describe('rampSummary', () => {
  it('reads the cost figures at the highest ramp rate at or below the median highest sustained rate', () => {
    const r = ramp();
    r.repetitions = [{ highestSustained: 2000, stoppedAt: 3000 }, { highestSustained: 1000, stoppedAt: 2000 }, { highestSustained: 2000, stoppedAt: 3000 }];
    assert.deepEqual(rampSummary(r), { highest: [2000, 1000, 2000], median: 2000, at: 2000, sustained: true });
    r.repetitions = [{ highestSustained: 2000 }, { highestSustained: 1000 }];
    assert.deepEqual(rampSummary(r), { highest: [2000, 1000], median: 1500, at: 1000, sustained: true });
  });

  it('falls back to referenceIfNone when the median sustained nothing', () => {
    const r = ramp();
    r.repetitions = [{ stoppedAt: 500 }, { highestSustained: 500, stoppedAt: 1000 }, { stoppedAt: 500 }];
    assert.deepEqual(rampSummary(r), { highest: [0, 500, 0], median: 0, at: 1000, sustained: false });
  });
});

describe('runsAt', () => {
  it("selects a ramp step's runs by offered rate", () => {
    const step: Step = { key: 'mesh-ramp', title: '', scenario: 'dm', targets: ['mesh-relay'], overrides: {}, results: [fixture(500), fixture(1000), fixture(500)] };
    assert.deepEqual(runsAt(step, 500).map((r) => r.offeredRate), [500, 500]);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ClockMovedBackwardsError,
  SNOWFLAKE_EPOCH_MS,
  SnowflakeGenerator,
  decodeSnowflake,
  parseSnowflake,
  snowflakeFloor,
  snowflakeTime,
  systemClock,
} from './snowflake';

const SEQ_PER_MS = 4096;
const MAX_ELAPSED_MS = 2 ** 41 - 1;

/** Manually driven clock; `sleep` advances it instead of really waiting. */
class FakeClock {
  slept: number[] = [];
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  sleep = (ms: number): void => {
    this.slept.push(ms);
    this.t += ms;
  };
}

/** A start time somewhere in the 41-bit range, leaving room to advance. */
const startTime = fc.integer({ min: SNOWFLAKE_EPOCH_MS, max: SNOWFLAKE_EPOCH_MS + 2 ** 40 });

function assertStrictlyIncreasing(ids: bigint[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1] < ids[i], `id #${i} ${ids[i]} not greater than ${ids[i - 1]}`);
  }
}

describe('SnowflakeGenerator', () => {
  it('validates workerId', () => {
    for (const bad of [-1, 1024, 1.5, Number.NaN, Infinity]) {
      assert.throws(
        () => new SnowflakeGenerator({ workerId: bad }),
        (e: unknown) => e instanceof RangeError && e.message.includes(String(bad)),
      );
    }
    assert.equal(new SnowflakeGenerator({ workerId: 0 }).workerId, 0);
    assert.equal(new SnowflakeGenerator({ workerId: 1023 }).workerId, 1023);
  });

  it('works with the system clock', () => {
    const gen = new SnowflakeGenerator({ workerId: 7 });
    const before = systemClock.now();
    const ids = [gen.next(), gen.next(), BigInt(gen.nextString())];
    const after = systemClock.now();
    assertStrictlyIncreasing(ids);
    for (const id of ids) {
      const d = decodeSnowflake(id);
      assert.equal(d.workerId, 7);
      assert.ok(d.timestampMs >= before && d.timestampMs <= after);
    }
  });

  it('nextString returns the canonical decimal form', () => {
    const clock = new FakeClock(SNOWFLAKE_EPOCH_MS + 1234);
    const gen = new SnowflakeGenerator({ workerId: 3, clock, sleep: clock.sleep });
    const s = gen.nextString();
    assert.match(s, /^[1-9][0-9]*$/);
    assert.deepEqual(decodeSnowflake(s), { timestampMs: SNOWFLAKE_EPOCH_MS + 1234, workerId: 3, sequence: 0 });
  });

  it('is strictly increasing over random clock advances, waiting for the next ms on sequence overflow', () => {
    const op = fc.record({
      advance: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 6, max: 100_000 })),
      // Mostly small bursts; occasionally enough to exhaust one or more milliseconds.
      count: fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: 1, max: 20 }) },
        { weight: 1, arbitrary: fc.integer({ min: SEQ_PER_MS - 2, max: 2 * SEQ_PER_MS + 2 }) },
      ),
    });
    fc.assert(
      fc.property(startTime, fc.integer({ min: 0, max: 1023 }), fc.array(op, { minLength: 1, maxLength: 12 }), (t0, workerId, ops) => {
        const clock = new FakeClock(t0);
        const gen = new SnowflakeGenerator({ workerId, clock, sleep: clock.sleep });
        const ids: bigint[] = [];
        for (const { advance, count } of ops) {
          clock.t += advance;
          for (let i = 0; i < count; i++) {
            const id = gen.next();
            const d = decodeSnowflake(id);
            // The id carries the clock reading at issue time and the generator's worker id.
            assert.equal(d.timestampMs, clock.t);
            assert.equal(d.workerId, workerId);
            ids.push(id);
          }
        }
        assertStrictlyIncreasing(ids);
        // Sleeping only ever happens to roll over an exhausted millisecond, one ms at a time.
        assert.ok(clock.slept.every((ms) => ms === 1));
        const perMs = new Map<number, number>();
        for (const id of ids) {
          const ms = decodeSnowflake(id).timestampMs;
          perMs.set(ms, (perMs.get(ms) ?? 0) + 1);
        }
        assert.ok([...perMs.values()].every((n) => n <= SEQ_PER_MS));
      }),
      { numRuns: 60 },
    );
  });

  it('issues 4096 ids per ms, then moves to the next ms with sequence 0', () => {
    const t0 = SNOWFLAKE_EPOCH_MS + 10_000;
    const clock = new FakeClock(t0);
    const gen = new SnowflakeGenerator({ workerId: 1, clock, sleep: clock.sleep });
    const ids = Array.from({ length: SEQ_PER_MS + 1 }, () => gen.next());
    assertStrictlyIncreasing(ids);
    assert.deepEqual(decodeSnowflake(ids[SEQ_PER_MS - 1]), { timestampMs: t0, workerId: 1, sequence: SEQ_PER_MS - 1 });
    assert.deepEqual(decodeSnowflake(ids[SEQ_PER_MS]), { timestampMs: t0 + 1, workerId: 1, sequence: 0 });
    assert.deepEqual(clock.slept, [1]);
  });

  it('is unique across generators with distinct worker ids sharing one clock', () => {
    fc.assert(
      fc.property(
        startTime,
        fc.uniqueArray(fc.integer({ min: 0, max: 1023 }), { minLength: 2, maxLength: 6 }),
        fc.array(fc.record({ gen: fc.nat(), advance: fc.integer({ min: 0, max: 3 }), count: fc.integer({ min: 1, max: 50 }) }), {
          minLength: 1,
          maxLength: 60,
        }),
        (t0, workerIds, ops) => {
          const clock = new FakeClock(t0);
          const gens = workerIds.map((workerId) => new SnowflakeGenerator({ workerId, clock, sleep: clock.sleep }));
          const all = new Set<bigint>();
          let issued = 0;
          for (const { gen, advance, count } of ops) {
            clock.t += advance;
            for (let i = 0; i < count; i++) all.add(gens[gen % gens.length].next());
            issued += count;
          }
          assert.equal(all.size, issued);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('stays strictly increasing when the clock jumps back within the bound', () => {
    fc.assert(
      fc.property(
        startTime,
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.record({
            // Fraction of the bound to step back (0 = step forward by `forward` instead).
            back: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
            forward: fc.integer({ min: 0, max: 5 }),
            count: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.constant(SEQ_PER_MS) }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (t0, bound, ops) => {
          const clock = new FakeClock(t0 + bound);
          const gen = new SnowflakeGenerator({ workerId: 5, clock, maxBackwardsWaitMs: bound, sleep: clock.sleep });
          const ids: bigint[] = [gen.next()];
          for (const { back, forward, count } of ops) {
            // Every id issued so far is at most the clock, so stepping back <= bound
            // from here leaves the clock at most `bound` behind the last id.
            if (back > 0) clock.t -= Math.max(1, Math.floor(back * bound));
            else clock.t += forward;
            for (let i = 0; i < count; i++) {
              const sleptBefore = clock.slept.reduce((a, b) => a + b, 0);
              const id = gen.next();
              const sleptDuring = clock.slept.reduce((a, b) => a + b, 0) - sleptBefore;
              assert.ok(sleptDuring <= bound + 1, `slept ${sleptDuring} ms in one call, bound ${bound}`);
              assert.equal(decodeSnowflake(id).timestampMs, clock.t);
              ids.push(id);
            }
          }
          assertStrictlyIncreasing(ids);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('throws ClockMovedBackwardsError on a jump beyond the bound and never issues a duplicate', () => {
    fc.assert(
      fc.property(
        startTime,
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.boolean(),
        (t0, bound, excess, before, sleepAdvances) => {
          const clock = new FakeClock(t0 + bound + excess);
          const sleep = sleepAdvances ? clock.sleep : (ms: number) => void clock.slept.push(ms);
          const gen = new SnowflakeGenerator({ workerId: 9, clock, maxBackwardsWaitMs: bound, sleep });
          const ids = Array.from({ length: before }, () => gen.next());
          const lastMs = clock.t;
          clock.t = lastMs - bound - excess;
          assert.throws(
            () => gen.next(),
            (e: unknown) => e instanceof ClockMovedBackwardsError && e.lastMs === lastMs && e.nowMs === clock.t,
          );
          assert.ok(clock.slept.length === 0, 'gives up at once when the gap exceeds the whole budget');
          // Once the clock recovers, issuing resumes above everything issued before.
          clock.t = lastMs;
          ids.push(gen.next(), gen.next());
          assertStrictlyIncreasing(ids);
          assert.equal(new Set(ids).size, ids.length);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('throws after waiting at most the bound when a lagging clock does not catch up', () => {
    const t0 = SNOWFLAKE_EPOCH_MS + 1_000_000;
    const clock = new FakeClock(t0);
    const slept: number[] = [];
    const sleep = (ms: number): void => {
      slept.push(ms);
      if (slept.length > 1000) throw new Error('unbounded wait');
    };
    const gen = new SnowflakeGenerator({ workerId: 2, clock, maxBackwardsWaitMs: 100, sleep });
    const first = gen.next();
    clock.t = t0 - 10; // frozen 10 ms behind: sleeping does not help
    assert.throws(() => gen.next(), ClockMovedBackwardsError);
    const total = slept.reduce((a, b) => a + b, 0);
    assert.ok(total > 0 && total <= 100, `waited ${total} ms`);
    clock.t = t0;
    assert.ok(gen.next() > first);
  });

  it('throws rather than spinning forever when a frozen clock blocks sequence rollover', () => {
    const clock = new FakeClock(SNOWFLAKE_EPOCH_MS + 5);
    let slept = 0;
    const sleep = (ms: number): void => {
      slept += ms;
      if (slept > 1000) throw new Error('unbounded wait');
    };
    const gen = new SnowflakeGenerator({ workerId: 0, clock, maxBackwardsWaitMs: 20, sleep });
    for (let i = 0; i < SEQ_PER_MS; i++) gen.next();
    assert.throws(() => gen.next(), /did not advance/);
    assert.ok(slept <= 21);
  });

  it('rejects clocks outside the 41-bit range after the epoch', () => {
    for (const t of [SNOWFLAKE_EPOCH_MS - 1, 0, SNOWFLAKE_EPOCH_MS + MAX_ELAPSED_MS + 1, Number.NaN]) {
      const gen = new SnowflakeGenerator({ workerId: 0, clock: { now: () => t }, sleep: () => {} });
      assert.throws(() => gen.next(), RangeError, `clock ${t}`);
    }
    const edge = new SnowflakeGenerator({ workerId: 1023, clock: { now: () => SNOWFLAKE_EPOCH_MS + MAX_ELAPSED_MS } });
    assert.equal(edge.next(), (1n << 63n) - 4096n);
  });
});

describe('decoding', () => {
  it('round-trips timestamp, worker and sequence of generated ids', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: SNOWFLAKE_EPOCH_MS, max: SNOWFLAKE_EPOCH_MS + MAX_ELAPSED_MS }),
        fc.integer({ min: 0, max: 1023 }),
        fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: SEQ_PER_MS - 1 })),
        (t, workerId, sequence) => {
          const clock = new FakeClock(t);
          const gen = new SnowflakeGenerator({ workerId, clock, sleep: clock.sleep });
          let id = gen.next();
          for (let i = 0; i < sequence; i++) id = gen.next();
          const expected = { timestampMs: t, workerId, sequence };
          assert.deepEqual(decodeSnowflake(id), expected);
          assert.deepEqual(decodeSnowflake(id.toString()), expected);
          assert.equal(parseSnowflake(id.toString()), id);
          assert.equal(snowflakeTime(id).getTime(), t);
          assert.ok(snowflakeFloor(t) <= id);
          if (t < SNOWFLAKE_EPOCH_MS + MAX_ELAPSED_MS) assert.ok(snowflakeFloor(t + 1) > id);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('decodes any 63-bit value into fields that recompose to it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }), (id) => {
        const { timestampMs, workerId, sequence } = decodeSnowflake(id);
        assert.ok(workerId >= 0 && workerId <= 1023 && sequence >= 0 && sequence < SEQ_PER_MS);
        assert.equal(BigInt(timestampMs - SNOWFLAKE_EPOCH_MS) * 4194304n + BigInt(workerId) * 4096n + BigInt(sequence), id);
      }),
    );
  });

  it('snowflakeFloor is the least id of its millisecond', () => {
    assert.equal(snowflakeFloor(SNOWFLAKE_EPOCH_MS), 0n);
    assert.equal(snowflakeFloor(SNOWFLAKE_EPOCH_MS + 1.9), 1n << 22n);
    assert.deepEqual(decodeSnowflake(snowflakeFloor(SNOWFLAKE_EPOCH_MS + 42)), { timestampMs: SNOWFLAKE_EPOCH_MS + 42, workerId: 0, sequence: 0 });
    assert.throws(() => snowflakeFloor(SNOWFLAKE_EPOCH_MS - 1), RangeError);
    assert.throws(() => snowflakeFloor(SNOWFLAKE_EPOCH_MS + MAX_ELAPSED_MS + 1), RangeError);
    assert.throws(() => snowflakeFloor(Number.NaN), RangeError);
  });
});

describe('parseSnowflake', () => {
  it('accepts canonical unsigned 64-bit decimals', () => {
    assert.equal(parseSnowflake('0'), 0n);
    assert.equal(parseSnowflake('123456789012345678'), 123456789012345678n);
    assert.equal(parseSnowflake('18446744073709551615'), (1n << 64n) - 1n);
  });

  it('rejects anything else with a TypeError', () => {
    for (const bad of ['', '-1', '1.5', '18446744073709551616', 'abc', ' 1', '1 ', '+1', '01', '1e3', '0x10', '99999999999999999999']) {
      assert.throws(() => parseSnowflake(bad), TypeError, JSON.stringify(bad));
      assert.throws(() => decodeSnowflake(bad), TypeError, JSON.stringify(bad));
    }
    assert.throws(() => parseSnowflake(12 as unknown as string), TypeError);
    assert.throws(() => decodeSnowflake(-1n), TypeError);
    assert.throws(() => decodeSnowflake(1n << 64n), TypeError);
  });
});

/**
 * Snowflake ids: 64-bit, time-ordered, unique per worker without coordination.
 *
 * Layout (most significant bit first):
 *
 * ```
 *  1 bit   unused sign bit, always 0 for generated ids
 * 41 bits  milliseconds since SNOWFLAKE_EPOCH_MS (~69.7 years of range)
 * 10 bits  worker id, 0..1023
 * 12 bits  sequence within the millisecond, 0..4095
 * ```
 *
 * Ids are `bigint` in process and travel as decimal strings on the wire and in
 * JSON, never as JS numbers (a `number` loses precision above 2^53).
 *
 * @module
 */

/**
 * Custom epoch of all snowflake ids: 2026-01-01T00:00:00Z, in Unix milliseconds.
 * The 41-bit timestamp field counts milliseconds since this instant.
 */
export const SNOWFLAKE_EPOCH_MS = 1767225600000;

const WORKER_BITS = 10n;
const SEQUENCE_BITS = 12n;
const TIMESTAMP_SHIFT = WORKER_BITS + SEQUENCE_BITS;
const MAX_WORKER_ID = 1023;
const MAX_SEQUENCE = 4095;
/** Largest millisecond offset from the epoch that fits in 41 bits. */
const MAX_ELAPSED_MS = 2 ** 41 - 1;
const MAX_U64 = (1n << 64n) - 1n;

/** Source of wall-clock time in milliseconds (Unix epoch). Injectable for tests. */
export interface Clock {
  now(): number;
}

/** The process wall clock (`Date.now()`). */
export const systemClock: Clock = { now: () => Date.now() };

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` milliseconds without burning CPU. */
function atomicsSleep(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

/**
 * Thrown by {@link SnowflakeGenerator.next} when the clock reads earlier than the
 * last issued millisecond and does not catch up within `maxBackwardsWaitMs`.
 * No id is issued in that case; the generator stays usable once the clock recovers.
 */
export class ClockMovedBackwardsError extends Error {
  /** Unix ms of the last issued id. */
  readonly lastMs: number;
  /** Unix ms the clock read when the generator gave up. */
  readonly nowMs: number;

  constructor(lastMs: number, nowMs: number) {
    super(`clock moved backwards: last issued ms ${lastMs}, clock now reads ${nowMs} (${lastMs - nowMs} ms behind)`);
    this.name = 'ClockMovedBackwardsError';
    this.lastMs = lastMs;
    this.nowMs = nowMs;
  }
}

/** Options for {@link SnowflakeGenerator}. */
export interface SnowflakeGeneratorOptions {
  /** Integer in [0, 1023]; must be unique among concurrently running generators. */
  workerId: number;
  /** Time source; defaults to {@link systemClock}. */
  clock?: Clock;
  /** How long `next()` may wait for a clock that stepped backwards to catch up. Default 2000. */
  maxBackwardsWaitMs?: number;
  /** Synchronous sleep used while waiting; defaults to `Atomics.wait`. Fake it in tests. */
  sleep?: (ms: number) => void;
  /**
   * An id this generator's ids must all exceed, typically the last one a previous generator of
   * this process issued under the same worker id (a lease regained after it was lost). Default none.
   */
  after?: bigint;
}

/**
 * Issues snowflake ids for one worker.
 *
 * Guarantees, per generator instance:
 * - every id is strictly greater than every id issued before it (hence no duplicates);
 * - an id's timestamp is the clock reading at the moment it was issued;
 * - it never issues an id for a millisecond earlier than the last one: if the clock
 *   steps backwards it waits (synchronously) for the clock to catch up, and throws
 *   {@link ClockMovedBackwardsError} instead if that would take longer than
 *   `maxBackwardsWaitMs`;
 * - after 4096 ids in one millisecond it waits for the next millisecond.
 *
 * A single `next()` call blocks for at most `maxBackwardsWaitMs + 1` ms of sleep.
 * Uniqueness across generators requires distinct worker ids.
 */
export class SnowflakeGenerator {
  readonly workerId: number;
  private readonly clock: Clock;
  private readonly maxBackwardsWaitMs: number;
  private readonly sleep: (ms: number) => void;
  /** Milliseconds since the epoch of the last issued id; -1 before the first. */
  private lastMs = -1;
  /** Sequence of the last issued id. */
  private sequence = 0;

  constructor(options: SnowflakeGeneratorOptions) {
    const { workerId, clock = systemClock, maxBackwardsWaitMs = 2000, sleep = atomicsSleep } = options;
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > MAX_WORKER_ID) {
      throw new RangeError(`workerId must be an integer in [0, ${MAX_WORKER_ID}], got ${String(workerId)}`);
    }
    if (!Number.isFinite(maxBackwardsWaitMs) || maxBackwardsWaitMs < 0) {
      throw new RangeError(`maxBackwardsWaitMs must be a finite number >= 0, got ${String(maxBackwardsWaitMs)}`);
    }
    this.workerId = workerId;
    this.clock = clock;
    this.maxBackwardsWaitMs = maxBackwardsWaitMs;
    this.sleep = sleep;
    if (options.after !== undefined) {
      // As if `after`'s millisecond had used up its sequence: the next id is in a later millisecond.
      this.lastMs = Number(options.after >> TIMESTAMP_SHIFT);
      this.sequence = MAX_SEQUENCE;
    }
  }

  /** An id at or above every id issued (the last one, or the `after` floor's millisecond); undefined before any. */
  get last(): bigint | undefined {
    if (this.lastMs < 0) return undefined;
    return (BigInt(this.lastMs) << TIMESTAMP_SHIFT) | (BigInt(this.workerId) << SEQUENCE_BITS) | BigInt(this.sequence);
  }

  /**
   * Returns a new id, strictly greater than any previously returned by this generator.
   * @throws ClockMovedBackwardsError if the clock is behind the last id for too long.
   * @throws RangeError if the clock reads before the epoch or past the 41-bit range.
   * @throws Error if the clock does not advance while waiting for the next millisecond.
   */
  next(): bigint {
    let now = this.readClock();
    let waited = 0;
    // Wait while issuing now would go backwards or overflow the millisecond's sequence.
    while (now < this.lastMs || (now === this.lastMs && this.sequence === MAX_SEQUENCE)) {
      if (now < this.lastMs) {
        // Give up as soon as the remaining budget cannot cover the gap.
        if (this.lastMs - now > this.maxBackwardsWaitMs - waited) {
          throw new ClockMovedBackwardsError(this.lastMs + SNOWFLAKE_EPOCH_MS, now + SNOWFLAKE_EPOCH_MS);
        }
      } else if (waited > this.maxBackwardsWaitMs) {
        throw new Error(`clock did not advance past ${this.lastMs + SNOWFLAKE_EPOCH_MS} after waiting ${waited} ms`);
      }
      const gap = now < this.lastMs ? this.lastMs - now : 1;
      this.sleep(gap);
      waited += gap;
      now = this.readClock();
    }
    this.sequence = now === this.lastMs ? this.sequence + 1 : 0;
    this.lastMs = now;
    return (BigInt(now) << TIMESTAMP_SHIFT) | (BigInt(this.workerId) << SEQUENCE_BITS) | BigInt(this.sequence);
  }

  /** {@link next} as a decimal string, the wire/JSON form of an id. */
  nextString(): string {
    return this.next().toString();
  }

  /** Current clock reading as whole milliseconds since the epoch, range-checked. */
  private readClock(): number {
    const raw = this.clock.now();
    if (!Number.isFinite(raw)) throw new RangeError(`clock returned a non-finite time: ${raw}`);
    return elapsedSinceEpoch(raw, 'clock');
  }
}

function elapsedSinceEpoch(unixMs: number, what: string): number {
  const elapsed = Math.floor(unixMs) - SNOWFLAKE_EPOCH_MS;
  if (elapsed < 0) {
    throw new RangeError(`${what} ${unixMs} is before the snowflake epoch ${SNOWFLAKE_EPOCH_MS}`);
  }
  if (elapsed > MAX_ELAPSED_MS) {
    throw new RangeError(`${what} ${unixMs} is past the 41-bit snowflake time range`);
  }
  return elapsed;
}

/**
 * Parses a wire-form id. Accepts only canonical unsigned decimal (no sign, no
 * leading zeros, no whitespace) within the unsigned 64-bit range.
 * @throws TypeError on anything else.
 */
export function parseSnowflake(s: string): bigint {
  if (typeof s !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(s)) {
    throw new TypeError(`invalid snowflake id: ${JSON.stringify(s)}`);
  }
  const id = BigInt(s);
  if (id > MAX_U64) throw new TypeError(`snowflake id out of 64-bit range: ${s}`);
  return id;
}

function toId(id: bigint | string): bigint {
  if (typeof id === 'string') return parseSnowflake(id);
  if (typeof id !== 'bigint' || id < 0n || id > MAX_U64) {
    throw new TypeError(`invalid snowflake id: ${String(id)}`);
  }
  return id;
}

/**
 * Splits an id into its fields. `timestampMs` is Unix milliseconds.
 * The top bit is not masked off, so the decoding is lossless for any u64.
 * @throws TypeError if `id` is not a valid unsigned 64-bit id.
 */
export function decodeSnowflake(id: bigint | string): { timestampMs: number; workerId: number; sequence: number } {
  const v = toId(id);
  return {
    timestampMs: Number(v >> TIMESTAMP_SHIFT) + SNOWFLAKE_EPOCH_MS,
    workerId: Number((v >> SEQUENCE_BITS) & BigInt(MAX_WORKER_ID)),
    sequence: Number(v & BigInt(MAX_SEQUENCE)),
  };
}

/** The instant an id was issued (millisecond precision). */
export function snowflakeTime(id: bigint | string): Date {
  return new Date(decodeSnowflake(id).timestampMs);
}

/**
 * The smallest id that could be issued at Unix millisecond `timestampMs`
 * (fractions are floored). Every id issued at or after that millisecond is
 * `>=` this value and every earlier id is `<` it, so it serves as a range-scan
 * bound and a time-bucket key.
 * @throws RangeError if the time is outside the representable range.
 */
export function snowflakeFloor(timestampMs: number): bigint {
  if (!Number.isFinite(timestampMs)) throw new RangeError(`timestamp must be finite, got ${timestampMs}`);
  return BigInt(elapsedSinceEpoch(timestampMs, 'timestamp')) << TIMESTAMP_SHIFT;
}

/**
 * The position `ms` milliseconds of Snowflake time before `id` (0 at the least): any id from less
 * than `ms` before `id`'s millisecond, whichever worker issued it, is above it. Used to rewind a
 * resume cursor over ids that are only roughly time-ordered across servers.
 */
export function rewindSnowflake(id: bigint, ms: number): bigint {
  const back = BigInt(Math.max(0, Math.floor(ms))) << TIMESTAMP_SHIFT;
  return id > back ? id - back : 0n;
}

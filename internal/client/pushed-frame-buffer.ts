import type { ConnectResponse } from '../../gen/chat/v1/gateway';

/**
 * Picks frames for {@link PushedFrameBuffer.waitFor}. Returning `true` selects the frame itself;
 * returning `undefined`, `null` or `false` skips it; any other value selects that value (so a
 * matcher can extract, e.g. `f => f.frame?.$case === 'message' ? f.frame.value : undefined`).
 */
export type FrameMatcher<T> = (frame: ConnectResponse) => T | boolean | undefined | null;

interface Waiter {
  match(frame: ConnectResponse): boolean;
  fail(err: Error): void;
}

/**
 * The most recent frames the server pushed (everything that did not answer a pending request),
 * bounded to `capacity` frames (the oldest are dropped first), and the waits on them.
 *
 * Waits do not consume frames: two waits with the same matcher resolve with the same frame. Tests
 * should match on something unique (a message text, a client_msg_id).
 */
export class PushedFrameBuffer {
  private readonly frames: ConnectResponse[] = [];
  private readonly waiters = new Set<Waiter>();
  private closedWith: Error | undefined;

  constructor(private readonly capacity: number) {}

  /** Records a pushed frame and settles the waits it matches. */
  record(frame: ConnectResponse): void {
    this.frames.push(frame);
    if (this.frames.length > this.capacity) this.frames.splice(0, this.frames.length - this.capacity);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(frame)) this.waiters.delete(waiter);
    }
  }

  /** A copy of the buffered frames, oldest first. */
  snapshot(): ConnectResponse[] {
    return [...this.frames];
  }

  /**
   * Resolves with the first buffered or future frame the matcher selects (see {@link FrameMatcher}).
   * Rejects when `timeoutMs` passes, when the matcher throws, or when the buffer is closed (no more
   * frames will come) with the error given to {@link close}.
   */
  waitFor<T>(matcher: FrameMatcher<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    try {
      for (const frame of this.frames) {
        const hit = select(matcher, frame);
        if (hit) return Promise.resolve(hit.value);
      }
    } catch (err) {
      return Promise.reject(toError(err));
    }
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(onTimeout());
      }, timeoutMs);
      const waiter: Waiter = {
        match: (frame) => {
          let hit: { value: T } | undefined;
          try {
            hit = select(matcher, frame);
          } catch (err) {
            clearTimeout(timer);
            reject(toError(err));
            return true;
          }
          if (!hit) return false;
          clearTimeout(timer);
          resolve(hit.value);
          return true;
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** No more frames will come: fails every pending wait and every later wait that finds no match. */
  close(err: Error): void {
    this.closedWith = err;
    for (const waiter of this.waiters) waiter.fail(err);
    this.waiters.clear();
  }
}

function select<T>(matcher: FrameMatcher<T>, frame: ConnectResponse): { value: T } | undefined {
  const picked = matcher(frame);
  if (picked === undefined || picked === null || picked === false) return undefined;
  return { value: (picked === true ? frame : picked) as T };
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

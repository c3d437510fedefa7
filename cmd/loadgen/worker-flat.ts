import { ErrorCode } from '../../gen/chat/v1/errors';
import { decodeResponse } from '../../internal/client/frame-codec';
import { Case, SendTemplate, markerFrame, nowUs, peekRequestId, sendFrame, subscribePresenceFrame, typingFrame } from './frames';
import type { FlatLoadCommand, FlatSetupCommand, FlatUserCommand, ToParent } from './worker-protocol';

/**
 * The worker's side of the flat-cost workload (flat-plan.ts, mesh-flat.ts): setting up each user's
 * conversations and presence subscriptions, then sends, typing and churn at fixed rates. The
 * worker (worker.ts) lends its connections through {@link FlatHost}.
 */

/** A connection as this workload uses it. */
export interface FlatConn {
  readonly ws: { send(data: Uint8Array): void };
  readonly userId: string;
}

/** Sees a frame first (its case, its bytes); true: handled here. */
export type FrameHook = (kind: number, data: Buffer) => boolean;

export interface FlatHost<C extends FlatConn> {
  /** The user's open connection, if it has one. */
  conn(user: string): C | undefined;
  setHook(conn: C, hook: FrameHook | undefined): void;
  /** Closes the connection as a leaving client does (the server unregisters its session); not an error. */
  leave(conn: C): void;
  /** Connects the user again, to the same server as the same user; undefined if the handshake failed. */
  rejoin(user: string): Promise<C | undefined>;
  /** A timed send, counted and stamped like the `load` op's (its delivery is measured). */
  sendTimed(conn: C, template: SendTemplate, atUs: number): void;
  /** Starts a new phase: counters, errors and latencies from zero, the window [fromUs, toUs). */
  beginPhase(fromUs: number, toUs: number): void;
  count(what: string, n?: number): void;
  countError(what: string): void;
  reply(msg: ToParent): void;
}

/** Request ids of this workload's own frames: the seed sends, the subscriptions, and the heartbeat after them. */
const SEED = 'fs';
const WATCH = 'fw';
const MARK = 'fm';

/** The users each user of this worker watches (from the setup): a user that rejoins subscribes to them again. */
const watchOf = new Map<string, string[]>();

function errorText(data: Buffer): string {
  const f = decodeResponse(data).frame;
  return f?.$case === 'error' ? `error ${f.value.code}: ${f.value.message.slice(0, 60)}` : 'error';
}

function isRefusal(data: Buffer): boolean {
  const f = decodeResponse(data).frame;
  return f?.$case === 'error' && f.value.code === ErrorCode.ERROR_CODE_PERMISSION_DENIED;
}

/** After the setup: answers to this workload's frames are consumed here; a refused resubscription is an error. */
function settledHook(host: Pick<FlatHost<FlatConn>, 'countError'>): FrameHook {
  return (kind, data) => {
    if (kind !== Case.error && kind !== Case.pong && kind !== Case.sendAck) return false;
    const id = peekRequestId(data);
    if (id === WATCH && kind === Case.error) host.countError(`resubscribe: ${errorText(data)}`);
    return id === WATCH || id === MARK || id === SEED;
  };
}

/**
 * Each user sends one untimed message to each of its conversations (a DM exists once it has a
 * message), then subscribes to its users' presence followed by a marker heartbeat. The server
 * handles a connection's frames in order, so the marker's pong says the subscription was answered:
 * if it was refused (the conversation not yet in history: the sync worker writes it a moment
 * after the send), the user subscribes again after `retryMs`, until the deadline. At most
 * `concurrency` users are in setup at once, so the seeds of a large mesh do not arrive as one
 * burst. Answers `flatReady` when every user is done, or at the deadline plus 5 s for those that
 * never answered.
 */
export function runFlatSetup<C extends FlatConn>(cmd: FlatSetupCommand, host: FlatHost<C>): void {
  host.beginPhase(0, 0);
  const waiting = new Set(cmd.users.map((u) => u.user));
  let subscribed = 0;
  const queue = [...cmd.users];
  let gaveUp = false;
  const done = (user: string, ok: boolean) => {
    if (!waiting.delete(user)) return;
    if (ok) subscribed++;
    const next = gaveUp ? undefined : queue.shift();
    if (next) start(next);
    if (waiting.size === 0) {
      clearTimeout(giveUp);
      host.reply({ op: 'flatReady', users: cmd.users.length, subscribed });
    }
  };
  const giveUp = setTimeout(() => {
    gaveUp = true; // users not started yet are counted, not started now
    for (const user of [...waiting]) {
      host.countError('setup: no answer by the deadline');
      done(user, false);
    }
  }, Math.max(0, cmd.deadlineMs - Date.now()) + 5000);
  if (cmd.users.length === 0) {
    clearTimeout(giveUp);
    return host.reply({ op: 'flatReady', users: 0, subscribed: 0 });
  }
  const start = (u: FlatUserCommand) => {
    watchOf.set(u.user, u.watch);
    const conn = host.conn(u.user);
    if (!conn) {
      host.countError('setup: user not connected');
      done(u.user, false);
      return;
    }
    let refused = false;
    let failed = false;
    const subscribe = () => {
      refused = false;
      conn.ws.send(subscribePresenceFrame(WATCH, u.watch));
      conn.ws.send(markerFrame(MARK));
    };
    const settle = (ok: boolean) => {
      host.setHook(conn, settledHook(host));
      done(u.user, ok);
    };
    host.setHook(conn, (kind, data) => {
      if (kind !== Case.error && kind !== Case.pong && kind !== Case.sendAck) return false;
      const id = peekRequestId(data);
      if (id === SEED) {
        if (kind === Case.error) host.countError(`seed: ${errorText(data)}`);
      } else if (id === WATCH) {
        if (kind !== Case.error) return false;
        if (isRefusal(data)) refused = true;
        else {
          failed = true;
          host.countError(`subscribe: ${errorText(data)}`);
        }
      } else if (id === MARK) {
        if (failed) settle(false);
        else if (!refused) settle(true);
        else if (Date.now() < cmd.deadlineMs) setTimeout(subscribe, cmd.retryMs);
        else {
          host.countError('subscribe: still refused at the deadline (no shared conversation in history)');
          settle(false);
        }
      } else return false;
      return true;
    });
    u.conversations.forEach((c, k) => conn.ws.send(sendFrame(SEED, c, `${u.user}-seed-${cmd.runId}-${k}`, 'flat seed')));
    subscribe();
  };
  for (const u of queue.splice(0, Math.max(1, cmd.concurrency))) start(u);
}

/**
 * Open loop from `startUs` until the window ends: message k is due at start + k/rate (stamped with
 * its due time, as `load` does), typing frame k at start + k/typing rate, churn k at start +
 * k/churn rate. A user away (churned) skips what falls on it, counted. Counts by name, for what
 * falls due in the window: `typing`, `churned`; over the whole phase: `rejoined`, `rejoin failed`,
 * and the skips.
 */
export function runFlatLoad<C extends FlatConn>(cmd: FlatLoadCommand, host: FlatHost<C>): void {
  host.beginPhase(cmd.measureFromUs, cmd.measureToUs);
  const pairs = cmd.pairs.map((p, k) => ({ user: p.user, template: new SendTemplate(p.conversationId, `${p.user}-${cmd.runId}-${k}`, cmd.textBytes), typing: typingFrame(p.conversationId) }));
  const inWindow = (us: number) => us >= cmd.measureFromUs && us < cmd.measureToUs;
  const churn = (user: string, dueUs: number) => {
    const conn = host.conn(user);
    if (!conn) return host.count('churn skipped (user away)');
    host.leave(conn);
    if (inWindow(dueUs)) host.count('churned');
    setTimeout(() => {
      void host.rejoin(user).then((again) => {
        if (!again) return host.count('rejoin failed');
        host.count('rejoined');
        host.setHook(again, settledHook(host));
        const watch = watchOf.get(user);
        if (watch?.length) again.ws.send(subscribePresenceFrame(WATCH, watch));
      });
    }, cmd.offlineMs);
  };
  /** Calls `fire(k, dueUs)` for every k due by `now` and before the window's end, from `next`; returns the next k. */
  const due = (perSec: number, next: number, now: number, fire: (k: number, dueUs: number) => void): number => {
    if (!(perSec > 0)) return next;
    let k = next;
    for (let at = cmd.startUs + (k * 1e6) / perSec; at <= now && at < cmd.measureToUs; at = cmd.startUs + (++k * 1e6) / perSec) fire(k, at);
    return k;
  };
  // Typing starts half-way down the pairs, so it does not follow the sends user by user.
  const typingFrom = Math.floor(pairs.length / 2);
  let m = 0;
  let t = 0;
  let c = 0;
  const tick = () => {
    const now = nowUs();
    if (pairs.length) {
      m = due(cmd.ratePerSec, m, now, (k, at) => {
        const p = pairs[k % pairs.length];
        const conn = host.conn(p.user);
        if (conn) host.sendTimed(conn, p.template, at);
        else host.count('sends skipped (user away)');
      });
      t = due(cmd.typingPerSec, t, now, (k, at) => {
        const p = pairs[(k + typingFrom) % pairs.length];
        const conn = host.conn(p.user);
        if (!conn) return host.count('typing skipped (user away)');
        conn.ws.send(p.typing);
        if (inWindow(at)) host.count('typing');
      });
    }
    if (cmd.churn.length) c = due(cmd.churnPerSec, c, now, (k, at) => churn(cmd.churn[k % cmd.churn.length], at));
    if (now < cmd.measureToUs) setTimeout(tick, 1);
  };
  setTimeout(tick, Math.max(0, (cmd.startUs - nowUs()) / 1000));
}

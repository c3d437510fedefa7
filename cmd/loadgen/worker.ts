import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { TokenIssuer } from '../../internal/auth/token-issuer';
import { decodeResponse } from '../../internal/client/frame-codec';
import { Case, HEARTBEAT_FRAME, SendTemplate, helloFrame, historyFrame, nowUs, peekCase, readTimestamp } from './frames';
import { runFlatLoad, runFlatSetup, type FlatHost } from './worker-flat';
import type { ConnectCommand, HistoryCommand, LoadCommand, SeedCommand, ToParent, ToWorker, WorkerReport } from './worker-protocol';

/**
 * A loadgen worker process: holds a share of the connections (so no process nears the fd limit),
 * sends pre-encoded frames, and records send → receive latency from the timestamp in each pushed
 * message's text. Driven by its parent over IPC (worker-protocol.ts); reports counters and an
 * HDR histogram (µs) per phase.
 */

interface Conn {
  ws: WebSocket;
  userId: string;
  open: boolean;
  /** Where and as whom it connected, so it can connect again (flat churn). */
  url: string;
  token: string;
  localAddress: string;
  /** Sees each frame first (its frame case, the bytes); true: handled, skip the default handling. */
  hook?: (kind: number, data: Buffer) => boolean;
  template?: SendTemplate;
  inFlight: number;
  /** History reader: when its page request left, and where it may page from. */
  askedAtUs: number;
  conversationId: string;
  beforeIds: string[];
}

const conns: Conn[] = [];
const byUser = new Map<string, Conn>();
let heartbeatMs = 5000;
let phase: Phase = newPhase(0, 0);

interface Phase {
  fromUs: number;
  toUs: number;
  sent: number;
  /** Sends stamped inside the measured window: what `delivered` should reach (one device per DM recipient). */
  sentInWindow: number;
  acked: number;
  delivered: number;
  pages: number;
  errors: Record<string, number>;
  counts: Record<string, number>;
  latency: hdr.Histogram;
  /** Message ids from acks, collected only while seeding history. */
  ids?: Record<string, string[]>;
  onAck?: (conn: Conn) => void;
  onPage?: (conn: Conn) => void;
}

function newPhase(fromUs: number, toUs: number): Phase {
  return { fromUs, toUs, sent: 0, sentInWindow: 0, acked: 0, delivered: 0, pages: 0, errors: {}, counts: {}, latency: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 }) };
}

function send(msg: ToParent): void {
  process.send?.(msg);
}

function countError(what: string): void {
  phase.errors[what] = (phase.errors[what] ?? 0) + 1;
}

function onMessage(conn: Conn, data: Buffer): void {
  const kind = peekCase(data);
  if (conn.hook?.(kind, data)) return;
  switch (kind) {
    case Case.message: {
      const ts = readTimestamp(data);
      if (ts >= phase.fromUs && ts < phase.toUs) {
        phase.delivered++;
        phase.latency.recordValue(Math.max(1, Math.round(nowUs() - ts)));
      }
      return;
    }
    case Case.sendAck:
      phase.acked++;
      conn.inFlight--;
      if (phase.ids) {
        const f = decodeResponse(data).frame;
        if (f?.$case === 'sendAck') (phase.ids[f.value.conversationId] ??= []).push(f.value.messageId);
      }
      phase.onAck?.(conn);
      return;
    case Case.historyPage: {
      const at = nowUs();
      if (conn.askedAtUs >= phase.fromUs && conn.askedAtUs < phase.toUs) {
        phase.pages++;
        phase.latency.recordValue(Math.max(1, Math.round(at - conn.askedAtUs)));
      }
      phase.onPage?.(conn);
      return;
    }
    case Case.error: {
      const f = decodeResponse(data).frame;
      countError(f?.$case === 'error' ? `error ${f.value.code}: ${f.value.message.slice(0, 80)}` : 'error');
      if (conn.inFlight > 0) {
        conn.inFlight--;
        phase.onAck?.(conn);
      }
      if (conn.askedAtUs > 0) phase.onPage?.(conn);
      return;
    }
    default:
      return; // pong, presence, welcome (handled at connect)
  }
}

async function connectAll(cmd: ConnectCommand): Promise<void> {
  heartbeatMs = cmd.heartbeatMs;
  const issuer = new TokenIssuer(cmd.secret, { ttlSec: 3600 });
  const started = nowUs();
  let next = 0;
  let failed = 0;
  const one = async (i: number): Promise<void> => {
    const userId = cmd.users[i];
    const conn = await openConn(cmd.urls[cmd.targetOf[i]], userId, await issuer.userToken(userId), cmd.localAddresses[i % cmd.localAddresses.length]);
    if (!conn) failed++;
  };
  const lane = async (): Promise<void> => {
    while (next < cmd.users.length) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(cmd.concurrency, cmd.users.length) }, lane));
  send({ op: 'connected', count: conns.length, failed, seconds: (nowUs() - started) / 1e6, errors: phase.errors });
}

/**
 * Opens one connection and says hello; resolves with it once welcomed (then it is the user's
 * connection in `byUser`, replacing an earlier one, and heartbeats), or undefined if the handshake
 * failed (counted once as an error).
 */
function openConn(url: string, userId: string, token: string, localAddress: string): Promise<Conn | undefined> {
  return new Promise<Conn | undefined>((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, localAddress });
    const conn: Conn = { ws, userId, open: false, url, token, localAddress, inFlight: 0, askedAtUs: 0, conversationId: '', beforeIds: [] };
    ws.on('open', () => ws.send(helloFrame(token, `lg-${userId}`)));
    ws.on('message', (data: Buffer) => {
      if (conn.open) return onMessage(conn, data);
      if (peekCase(data) === Case.welcome) {
        conn.open = true;
        const earlier = byUser.get(userId);
        const at = earlier ? conns.indexOf(earlier) : -1;
        if (at >= 0) conns[at] = conn;
        else conns.push(conn);
        byUser.set(userId, conn);
        scheduleHeartbeat(conn);
        resolve(conn);
      } else if (peekCase(data) === Case.error) {
        const f = decodeResponse(data).frame;
        // With its code, as later errors are: a connect burst reports its failures by code.
        countError(f?.$case === 'error' ? `hello: error ${f.value.code}: ${f.value.message.slice(0, 80)}` : 'hello: error');
      }
    });
    // A failed handshake emits 'error' and then 'close': count the connection as failed once.
    let gaveUp = false;
    const fail = () => {
      if (gaveUp) return;
      gaveUp = true;
      resolve(undefined);
    };
    ws.on('error', (err) => {
      countError(`socket: ${err.message.slice(0, 80)}`);
      if (!conn.open) fail();
    });
    ws.on('close', (code) => {
      if (conn.open) countError(`closed ${code}`);
      else fail();
      conn.open = false;
    });
  });
}

/**
 * Every connection heartbeats once per interval from its welcome on. All intervals are equal, so a
 * FIFO of (due time, connection) stays in due order; a 50 ms timer sends what is due.
 */
const beats: { dueUs: number; conn: Conn }[] = [];
let beatHead = 0;

function scheduleHeartbeat(conn: Conn): void {
  beats.push({ dueUs: nowUs() + heartbeatMs * 1000, conn });
}

function startHeartbeats(): void {
  setInterval(() => {
    const t = nowUs();
    while (beatHead < beats.length && beats[beatHead].dueUs <= t) {
      const b = beats[beatHead++];
      if (!b.conn.open) continue;
      b.conn.ws.send(HEARTBEAT_FRAME);
      beats.push({ dueUs: b.dueUs + heartbeatMs * 1000, conn: b.conn });
    }
    if (beatHead > 10_000 && beatHead * 2 > beats.length) {
      beats.splice(0, beatHead);
      beatHead = 0;
    }
  }, 50).unref();
}

function sendOne(conn: Conn, atUs: number): void {
  if (!conn.open || !conn.template) return;
  conn.ws.send(conn.template.next(atUs));
  conn.inFlight++;
  phase.sent++;
  // The frame carries floor(atUs): count it by the stamp the receiver will read.
  const stamp = Math.floor(atUs);
  if (stamp >= phase.fromUs && stamp < phase.toUs) phase.sentInWindow++;
}

function runLoad(cmd: LoadCommand): void {
  phase = newPhase(cmd.measureFromUs, cmd.measureToUs);
  // A sender whose connection failed (counted when connecting) sends nothing; the run goes on.
  const senders = connectedSenders(cmd.senders).map(({ conn, conversationId }) => {
    conn.template = new SendTemplate(conversationId, `${conn.userId}-${cmd.runId}`, cmd.textBytes);
    return conn;
  });
  if (senders.length === 0) return;
  const begin = () => {
    if (cmd.mode === 'max') {
      phase.onAck = (conn) => {
        const t = nowUs();
        if (t < phase.toUs && conn.template) sendOne(conn, t);
      };
      for (const c of senders) for (let k = 0; k < cmd.window; k++) sendOne(c, nowUs());
      return;
    }
    // Open loop: message k is due at start + k/rate whatever the answers do; it carries its due
    // time, so a stalled loadgen or server shows up as latency (no coordinated omission).
    const intervalUs = 1e6 / cmd.ratePerSec;
    let k = 0;
    const tick = () => {
      const t = nowUs();
      while (cmd.startUs + k * intervalUs <= t && cmd.startUs + k * intervalUs < phase.toUs) {
        sendOne(senders[k % senders.length], cmd.startUs + k * intervalUs);
        k++;
      }
      if (t < phase.toUs) setTimeout(tick, 1);
    };
    tick();
  };
  setTimeout(begin, Math.max(0, (cmd.startUs - nowUs()) / 1000));
}

function runSeed(cmd: SeedCommand): void {
  phase = newPhase(0, 0);
  phase.ids = {};
  const quota = new Map<Conn, number>();
  const senders = connectedSenders(cmd.senders).map(({ conn, conversationId }) => {
    conn.template = new SendTemplate(conversationId, `${conn.userId}-seed${cmd.runId}`, cmd.textBytes);
    quota.set(conn, cmd.perSender);
    return conn;
  });
  let remaining = cmd.perSender * senders.length;
  if (remaining === 0) return send({ op: 'seeded', ids: {}, errors: phase.errors });
  phase.onAck = (conn) => {
    if (--remaining === 0) return send({ op: 'seeded', ids: phase.ids ?? {}, errors: phase.errors });
    const left = quota.get(conn) ?? 0;
    if (left > 0) {
      quota.set(conn, left - 1);
      sendOne(conn, 0);
    }
  };
  for (const c of senders) {
    for (let k = 0; k < 8 && (quota.get(c) ?? 0) > 0; k++) {
      quota.set(c, (quota.get(c) ?? 0) - 1);
      sendOne(c, 0);
    }
  }
}

/** The senders whose connection is open; each missing one is counted as an error of the phase. */
function connectedSenders(senders: readonly { user: string; conversationId: string }[]): { conn: Conn; conversationId: string }[] {
  return senders.flatMap((s) => {
    const conn = byUser.get(s.user);
    if (conn?.open) return [{ conn, conversationId: s.conversationId }];
    countError('sender not connected');
    return [];
  });
}

function runHistory(cmd: HistoryCommand): void {
  phase = newPhase(cmd.measureFromUs, cmd.measureToUs);
  const readers = cmd.readers.flatMap((r) => {
    const conn = byUser.get(r.user);
    return conn ? [Object.assign(conn, { conversationId: r.conversationId, beforeIds: r.beforeIds })] : [];
  });
  const ask = (conn: Conn) => {
    const t = nowUs();
    if (t >= phase.toUs || !conn.open) return;
    const beforeId = conn.beforeIds[Math.floor(Math.random() * conn.beforeIds.length)];
    conn.askedAtUs = t;
    conn.ws.send(historyFrame(conn.conversationId, beforeId, cmd.limit));
    phase.sent++;
  };
  phase.onPage = ask;
  setTimeout(() => readers.forEach(ask), Math.max(0, (cmd.startUs - nowUs()) / 1000));
}

function report(): WorkerReport {
  return {
    op: 'report',
    sent: phase.sent,
    sentInWindow: phase.sentInWindow,
    acked: phase.acked,
    delivered: phase.delivered,
    pages: phase.pages,
    open: conns.filter((c) => c.open).length,
    errors: phase.errors,
    counts: phase.counts,
    latency: hdr.encodeIntoCompressedBase64(phase.latency),
  };
}

/** What the flat-cost workload (worker-flat.ts) uses of this worker. */
const flatHost: FlatHost<Conn> = {
  conn: (user) => {
    const c = byUser.get(user);
    return c?.open ? c : undefined;
  },
  setHook: (conn, hook) => void (conn.hook = hook),
  leave: (conn) => {
    // Closed by us: not an error, and no more heartbeats (they skip a closed connection).
    conn.open = false;
    conn.ws.close(1000, 'churn');
  },
  rejoin: (user) => {
    const old = byUser.get(user);
    return old ? openConn(old.url, user, old.token, old.localAddress) : Promise.resolve(undefined);
  },
  sendTimed: (conn, template, atUs) => {
    conn.template = template;
    sendOne(conn, atUs);
  },
  beginPhase: (fromUs, toUs) => void (phase = newPhase(fromUs, toUs)),
  count: (what, n = 1) => void (phase.counts[what] = (phase.counts[what] ?? 0) + n),
  countError,
  reply: send,
};

process.on('message', (msg: ToWorker) => {
  switch (msg.op) {
    case 'connect':
      void connectAll(msg);
      return;
    case 'load':
      return runLoad(msg);
    case 'seed':
      return runSeed(msg);
    case 'history':
      return runHistory(msg);
    case 'flatSetup':
      return runFlatSetup(msg, flatHost);
    case 'flatLoad':
      return runFlatLoad(msg, flatHost);
    case 'report':
      return send(report());
    case 'close':
      for (const c of conns) c.ws.terminate();
      process.exit(0);
  }
});
setInterval(() => send({ op: 'progress', open: conns.length, sent: phase.sent, delivered: phase.delivered, pages: phase.pages }), 250).unref();
startHeartbeats();
process.on('disconnect', () => process.exit(0));
send({ op: 'ready' });

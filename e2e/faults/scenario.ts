import assert from 'node:assert/strict';
import { waitUntil } from '../../internal/testing/wait-until';
import { checkWorld, formatVerdict, type CheckOptions, type Verdict } from './checker';
import type { FaultMesh } from './fault-mesh';
import { FaultWorld, type Device } from './fault-world';
import type { SeededRandom } from './seeded-random';

/** What a scenario's fault step reports: one line per action, printed with the verdict. */
export type Log = (line: string) => void;

export interface StandardWorld {
  world: FaultWorld;
  /** The devices that send under load. */
  senders: Device[];
  /** A pair of users (sender on one server, receiver on another) for live-delivery probes. */
  probe: { from: Device; to: Device; conversationId: string };
}

/**
 * The usual cast: five users (one with two devices) in a group of four and two DMs, spread over
 * the chat servers, four of them sending under load, an outsider who must receive nothing, and a
 * probe pair for live delivery between two given servers.
 */
export async function standardWorld(mesh: FaultMesh, name: string, rng: SeededRandom, opts: { probeFrom?: number; probeTo?: number } = {}): Promise<StandardWorld> {
  const world = new FaultWorld(mesh, name, rng);
  const [a, b, c, d, e, x, p, q] = ['a', 'b', 'c', 'd', 'e', 'outsider', 'probe1', 'probe2'].map((t) => world.user(t));
  await world.group([a, b, c, d]);
  world.dm(a, b);
  world.dm(c, e);
  const probeConv = world.dm(p, q);
  const n = mesh.chatServers.length;
  const devs = await Promise.all([a, b, c, d, e, x].map((u, i) => world.device(u, i % n)));
  devs.push(await world.device(a, (n - 1) % n, 'phone'));
  const probe = { from: await world.device(p, opts.probeFrom ?? 0), to: await world.device(q, opts.probeTo ?? 1 % n), conversationId: probeConv.id };
  return { world, senders: [devs[0], devs[1], devs[2], devs[4]], probe };
}

/** Sends one message from the probe's sender and waits until the receiver is shown it live. */
export async function probeLive(w: StandardWorld, log: Log, what: string, timeoutMs = 15_000): Promise<number> {
  const { from, to, conversationId } = w.probe;
  // A device still moving off a faulty server would get the probe from a resume, not live.
  await waitUntil(() => from.settled() && to.settled(), timeoutMs, `the probe devices to settle (${what})`);
  const attempt = { conversationId, senderId: from.userId, deviceId: from.deviceId, clientMsgId: `${from.deviceId}-probe-${w.world.attempts.length}`, text: `probe ${what}`, acks: [], errors: [] };
  w.world.attempts.push(attempt);
  const t0 = Date.now();
  await from.send(attempt, Date.now() + timeoutMs);
  assert.ok(attempt.acks.length > 0, `probe (${what}): the send was never acknowledged: ${attempt.errors.at(-1)}`);
  const id = (attempt.acks as { messageId: string }[])[0].messageId;
  await waitUntil(() => to.received.some((m) => m.messageId === id), timeoutMs, `the probe message (${what}) to reach ${to.deviceId} live`);
  const ms = Date.now() - t0;
  log(`live probe ${what}: delivered in ${ms} ms`);
  return ms;
}

/**
 * Runs load on `w`, applies `fault` once the load is warm (`warm` acks), keeps the load going until
 * `after` more sends were acknowledged after the fault healed, stops it, runs the checker and
 * prints what happened and the verdict. Fails the test on a FAIL verdict.
 */
export async function runScenario(
  w: StandardWorld,
  fault: (log: Log) => Promise<void>,
  opts: { warm?: number; after?: number; pauseMs?: number; print?: (line: string) => void; extra?: { senders: Device[]; pauseMs: number }; check?: CheckOptions } = {},
): Promise<Verdict> {
  const print = opts.print ?? ((line: string) => console.log(line));
  const t0 = Date.now();
  const lines: string[] = [];
  const log: Log = (line) => {
    const l = `[faults] ${w.world.name} +${((Date.now() - t0) / 1000).toFixed(1)}s: ${line}`;
    lines.push(l);
    print(l);
  };
  let stop = false;
  const load = Promise.all([
    w.world.load(w.senders, () => stop, { pauseMs: opts.pauseMs }),
    opts.extra ? w.world.load(opts.extra.senders, () => stop, { pauseMs: opts.extra.pauseMs }) : undefined,
  ]);
  try {
    await waitUntil(() => w.world.acked().length >= (opts.warm ?? 20), 30_000, 'the load to warm up');
    log(`load warm: ${w.world.acked().length} sends acknowledged by ${w.senders.length} senders`);
    await fault(log);
    const healed = w.world.acked().length;
    await waitUntil(() => w.world.acked().length >= healed + (opts.after ?? 20), 60_000, 'sends to be acknowledged after the fault healed');
    log(`healed: ${w.world.acked().length - healed} more sends acknowledged after it`);
  } finally {
    stop = true;
    await load;
  }
  const verdict = await checkWorld(w.world, opts.check);
  print(formatVerdict(verdict));
  print(`[faults] ${w.world.name}: took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.ok(verdict.ok, [...lines, formatVerdict(verdict)].join('\n'));
  return verdict;
}

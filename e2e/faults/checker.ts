import type { ChatMessage } from '../../gen/chat/v1/message';
import type { ChatApi } from '../../internal/client/chat-api';
import type { FaultWorld, SendAttempt } from './fault-world';
import { snowflakeMs } from './fault-world';

/** What the checker concluded about one healed scenario. */
export interface Verdict {
  scenario: string;
  ok: boolean;
  problems: string[];
  stats: {
    attempts: number;
    acked: number;
    /** Sends that never got an ack: allowed to be in history or not, never twice. */
    unacked: number;
    /** Unacknowledged sends that are in history anyway (their ack was lost). */
    unackedInHistory: number;
    inHistory: number;
    devices: number;
    /** Message frames and replayed messages received, duplicates included. */
    received: number;
    /** Of those, copies of an id the device already had (removed by client dedupe). */
    deduped: number;
    /** Repeats by how the copy came (live, replay, page). */
    repeatsVia: Record<string, number>;
    /** Resume gaps the servers named to the scenario's devices, by reason. */
    gaps: Record<string, number>;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyOf = (m: { senderId: string; clientMsgId: string }) => `${m.senderId}\u0000${m.clientMsgId}`;

/** Every message of a conversation through the api-server, newest first, paged backwards. */
export async function listAllMessages(api: ChatApi, conversationId: string): Promise<ChatMessage[]> {
  const all: ChatMessage[] = [];
  let beforeId = '';
  for (;;) {
    const page = await api.listMessages({ conversationId, beforeId, limit: 100 });
    all.push(...page.messages);
    if (!page.hasMore || page.messages.length === 0) break;
    beforeId = page.messages.at(-1)!.messageId;
  }
  return all;
}

/** Every message of a conversation, newest first; a page out of order is a problem. */
async function readHistory(api: ChatApi, conversationId: string, problems: string[]): Promise<ChatMessage[]> {
  const all = await listAllMessages(api, conversationId);
  for (let i = 1; i < all.length; i++) {
    if (BigInt(all[i].messageId) >= BigInt(all[i - 1].messageId)) {
      problems.push(`history of ${conversationId} is not in strict id order at ${all[i - 1].messageId}, ${all[i].messageId}`);
      break;
    }
  }
  return all;
}

/**
 * Verifies a scenario's recorded world once its fault healed and its load stopped:
 * 1. no acknowledged message is missing from history (waiting up to `historyTimeoutMs` for the
 *    sync worker), and each is there under the id its ack named;
 * 2. nothing in history that no client sent (sender, client_msg_id and text must match an attempt),
 *    and one message per client_msg_id however often it was retried;
 * 3. exactly-once display: every member device, after a final resume, shows every message of its
 *    conversations, and after dedupe by id shows none twice (no two ids for one client_msg_id);
 * 4. no message reaches a device of a non-member;
 * 5. order as documented: history pages in strict id order; a device's sends acknowledged on one
 *    connection have increasing ids; every id's timestamp lies within the scenario's time range;
 * 6. replays carry only what is missing: of the message frames devices received (live, replayed
 *    and paged), at most `maxRepeatShare` repeat an id the device already had.
 */
export interface CheckOptions {
  historyTimeoutMs?: number;
  /** Check 6's bound on repeated frames; default 0.01 (issue 15). */
  maxRepeatShare?: number;
}

export async function checkWorld(world: FaultWorld, opts: CheckOptions = {}): Promise<Verdict> {
  const problems: string[] = [];
  const attemptsByKey = new Map<string, SendAttempt>();
  for (const a of world.attempts) attemptsByKey.set(keyOf(a), a);
  const acked = world.acked();
  const endedAt = Date.now();

  // Acks: a retried send is answered with the id of its first acceptance, always.
  for (const a of acked) {
    const ids = new Set(a.acks.map((k) => k.messageId));
    if (ids.size > 1) problems.push(`send ${a.clientMsgId} was acknowledged with ${ids.size} different ids: ${[...ids].join(', ')}`);
  }

  // 1. History has every acknowledged message (the sync worker may still be catching up).
  const readers = new Map(await Promise.all(world.conversations.map(async (c) => [c.id, await world.mesh.api(c.members[0])] as const)));
  const readAll = async (into: string[]) => {
    const out = new Map<string, ChatMessage[]>();
    for (const c of world.conversations) out.set(c.id, await readHistory(readers.get(c.id)!, c.id, into));
    return out;
  };
  const deadline = Date.now() + (opts.historyTimeoutMs ?? 60_000);
  let history = new Map<string, ChatMessage[]>();
  let missing: SendAttempt[] = [];
  for (;;) {
    try {
      history = await readAll([]);
      const have = new Set([...history.values()].flat().map((m) => m.messageId));
      missing = acked.filter((a) => !have.has(a.acks[0].messageId));
      if (missing.length === 0) break;
    } catch (err) {
      if (Date.now() > deadline) problems.push(`history unreadable: ${String(err)}`);
    }
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  for (const a of missing.slice(0, 10)) problems.push(`acknowledged ${a.acks[0].messageId} (${a.clientMsgId}) is missing from history`);
  if (missing.length > 10) problems.push(`... and ${missing.length - 10} more acknowledged messages missing`);

  // 2. Nothing invented, nothing twice. Settled history (nothing in flight any more).
  history = await readAll(problems);
  const historyById = new Map<string, ChatMessage>();
  const historyKeys = new Map<string, string[]>();
  let unackedInHistory = 0;
  for (const [conversationId, msgs] of history) {
    for (const m of msgs) {
      historyById.set(m.messageId, m);
      const a = attemptsByKey.get(keyOf(m));
      if (!a || a.conversationId !== conversationId || a.text !== m.text) {
        problems.push(`history of ${conversationId} holds ${m.messageId} (${m.senderId}/${m.clientMsgId}) that no client sent like that`);
        continue;
      }
      historyKeys.set(keyOf(m), [...(historyKeys.get(keyOf(m)) ?? []), m.messageId]);
      if (a.acks.length > 0 && a.acks[0].messageId !== m.messageId) problems.push(`${a.clientMsgId} is in history as ${m.messageId} but was acknowledged as ${a.acks[0].messageId}`);
      if (a.acks.length === 0) unackedInHistory++;
    }
  }
  for (const [key, ids] of historyKeys) if (ids.length > 1) problems.push(`one send (${key.replace('\u0000', '/')}) is in history ${ids.length} times: ${ids.join(', ')}`);

  // 5. Order and id range.
  const byDevice = new Map<string, SendAttempt[]>();
  for (const a of acked.filter((x) => !x.concurrent)) byDevice.set(a.deviceId, [...(byDevice.get(a.deviceId) ?? []), a]);
  for (const [deviceId, sends] of byDevice) {
    for (let i = 1; i < sends.length; i++) {
      const [prev, cur] = [sends[i - 1].acks[0], sends[i].acks.at(-1)!];
      if (prev.connection === cur.connection && BigInt(cur.messageId) <= BigInt(prev.messageId)) {
        problems.push(`${deviceId}: sends acknowledged on one connection out of order (${prev.messageId} then ${cur.messageId})`);
      }
    }
  }
  for (const m of historyById.values()) {
    const ms = snowflakeMs(m.messageId);
    if (ms < world.startedAt - 2_000 || ms > endedAt + 5_000) problems.push(`id ${m.messageId} is out of range: ${new Date(ms).toISOString()}, scenario ran ${new Date(world.startedAt).toISOString()}..${new Date(endedAt).toISOString()}`);
  }

  // 3 and 4. A final resume on every device, then what each displays after dedupe.
  const live = world.mesh.liveServers();
  await Promise.all(world.devices.map((d) => d.stop()));
  await Promise.all(world.devices.map((d, i) => d.resume(live[i % live.length])));
  const expected = (userId: string) => world.conversationsOf(userId).flatMap((c) => history.get(c.id) ?? []).map((m) => m.messageId);
  const ownSent = (deviceId: string) => new Set(acked.filter((a) => a.deviceId === deviceId).map((a) => a.acks[0].messageId));
  const displayed = (d: (typeof world.devices)[number]) => new Set([...d.received.map((m) => m.messageId), ...ownSent(d.deviceId)]);
  const shownAll = async () => {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      if (world.devices.every((d) => {
        const shown = displayed(d);
        return expected(d.userId).every((id) => shown.has(id));
      })) return;
      await sleep(100);
    }
  };
  await shownAll();
  let received = 0;
  let deduped = 0;
  const repeatsVia: Record<string, number> = {};
  for (const d of world.devices) {
    received += d.received.length;
    const shown = displayed(d);
    deduped += d.received.length - new Set(d.received.map((m) => m.messageId)).size;
    const had = new Set<string>();
    d.received.forEach((m, i) => {
      if (had.has(m.messageId)) repeatsVia[d.receivedVia[i] ?? 'live'] = (repeatsVia[d.receivedVia[i] ?? 'live'] ?? 0) + 1;
      had.add(m.messageId);
    });
    const notShown = expected(d.userId).filter((id) => !shown.has(id));
    if (notShown.length > 0) {
      problems.push(`${d.deviceId} never shows ${notShown.length} message(s) of its conversations, e.g. ${notShown.slice(0, 3).join(', ')}`);
    }
    const keys = new Map<string, string>();
    for (const m of d.received) {
      if (!world.isMember(d.userId, m.conversationId)) {
        problems.push(`${d.deviceId} (not a member) received ${m.messageId} of ${m.conversationId}`);
        continue;
      }
      if (!historyById.has(m.messageId)) problems.push(`${d.deviceId} was shown ${m.messageId}, which is not in history`);
      const other = keys.get(keyOf(m));
      if (other !== undefined && other !== m.messageId) problems.push(`${d.deviceId} shows one send twice, as ${other} and ${m.messageId}`);
      keys.set(keyOf(m), m.messageId);
    }
  }
  await Promise.all(world.devices.map((d) => d.stop()));

  // 6. Repeats: resume is exact, so copies come only from a delivery on two paths at once.
  const maxRepeatShare = opts.maxRepeatShare ?? 0.01;
  if (deduped > maxRepeatShare * received) problems.push(`${deduped} of ${received} frames the devices received (${((100 * deduped) / Math.max(1, received)).toFixed(1)} %) repeat a message they had; the bound is ${100 * maxRepeatShare} %`);

  const inHistory = [...history.values()].reduce((n, l) => n + l.length, 0);
  const gaps: Record<string, number> = {};
  for (const d of world.devices) for (const [reason, n] of d.gaps) gaps[reason] = (gaps[reason] ?? 0) + n;
  return {
    scenario: world.name,
    ok: problems.length === 0,
    problems: [...new Set(problems)],
    stats: { attempts: world.attempts.length, acked: acked.length, unacked: world.attempts.length - acked.length, unackedInHistory, inHistory, devices: world.devices.length, received, deduped, repeatsVia, gaps },
  };
}

/** One line per verdict (and one per problem) for the suite's output. */
export function formatVerdict(v: Verdict): string {
  const s = v.stats;
  const head = `[faults] ${v.scenario}: ${v.ok ? 'PASS' : 'FAIL'} - ${s.acked}/${s.attempts} sends acknowledged (${s.unacked} unacknowledged, ${s.unackedInHistory} of them in history), ${s.inHistory} in history, ${s.devices} devices received ${s.received} (${s.deduped} repeats removed by dedupe${s.deduped > 0 ? `: ${Object.entries(s.repeatsVia).map(([via, n]) => `${n} ${via}`).join(', ')}` : ''})${Object.keys(s.gaps).length > 0 ? `; resume gaps named by the servers: ${Object.entries(s.gaps).map(([r, n]) => `${r.replace('GAP_REASON_', '')} ${n}`).join(', ')}` : ''}`;
  return [head, ...v.problems.map((p) => `[faults]   problem: ${p}`)].join('\n');
}

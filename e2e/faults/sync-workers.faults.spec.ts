import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { ChatMessage } from '../../gen/chat/v1/message';
import type { ChatApi } from '../../internal/client/chat-api';
import { KafkaLogOffsets } from '../../internal/messagelog/kafka-log-offsets';
import { MESSAGE_LOG_TOPIC, SYNC_WORKER_GROUP } from '../../internal/messagelog/message-log';
import { sampleValue } from '../../internal/telemetry/metrics-parse';
import { listAllMessages } from './checker';
import { FaultMesh } from './fault-mesh';
import { FaultWorld, type SendAttempt } from './fault-world';
import { SeededRandom } from './seeded-random';
import { probeLive, runScenario, type StandardWorld } from './scenario';

/** Partitions of the message log: two per sync worker, so each owns some and the dead one's must move. */
const PARTITIONS = 6;
const SYNC_WORKERS = 3;
/** Users of the scenario: groups of four, and DMs with three others each (78 conversations in all). */
const USERS = 24;
/** How long history may take to catch up after the kill (a 10 s session timeout, then a rebalance), and after the load. */
const CATCH_UP_MS = 120_000;

/** Conversations whose history is read at once while waiting for it to catch up. */
const READERS = 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Many sync workers (issue 16): three sync workers share the message log (one consumer group, six
 * partitions). Under a seeded load of DMs and group messages over 78 conversations, the worker
 * that has written the most is SIGKILLed; its partitions move to the other two. History (read
 * through the api-server, as a user reads it) must then hold every acknowledged message exactly
 * once, in id order, each sender's messages in the order it sent them. The fault suite's checker
 * runs as well.
 */
describe('many sync workers on one message log', { timeout: 900_000 }, () => {
  const rng = SeededRandom.fromEnv();
  let mesh: FaultMesh;
  let offsets: KafkaLogOffsets;

  before(async () => {
    console.log(`[faults] seed ${rng.seed} (replay with FAULT_SEED=${rng.seed})`);
    const t0 = Date.now();
    mesh = await FaultMesh.start({ chatServers: 2, syncWorkers: SYNC_WORKERS, env: { CHAT_KAFKA_PARTITIONS: String(PARTITIONS) } });
    console.log(`[faults] mesh of 2 chat servers and ${SYNC_WORKERS} sync workers (${PARTITIONS} log partitions) up in ${Date.now() - t0} ms (logs in ${mesh.dir})`);
    offsets = await KafkaLogOffsets.connect({
      brokers: mesh.common.CHAT_KAFKA_BROKERS.split(','),
      clientId: 'sync-workers-spec',
      topic: `${mesh.common.CHAT_KAFKA_TOPIC_PREFIX}${MESSAGE_LOG_TOPIC}`,
      group: SYNC_WORKER_GROUP,
      requestTimeoutMs: 10_000,
      log: pino({ level: 'silent' }),
    });
  });
  after(async () => {
    await offsets?.close();
    await mesh?.stop();
  });

  it('one of three sync workers SIGKILLed under load: history complete, ordered, no duplicates', async () => {
    const w = await busyWorld(mesh, rng.fork('sync-kill'));
    const written = async (http: string, result: 'created' | 'duplicate') => sampleValue(await mesh.metrics(http), `chat_sync_writes_total{result="${result}"}`);
    const workers = mesh.syncWorkers();
    await runScenario(
      w,
      async (log) => {
        // Each worker owns two of the six partitions: once every one has written, each owns busy ones.
        await until(async () => (await Promise.all(workers.map((s) => written(s.http, 'created')))).every((n) => n > 0), 60_000, 'every sync worker to write history');
        const ends = await offsets.endOffsets();
        log(`log records per partition: ${[...ends].map(([p, n]) => `${p}: ${n}`).join(', ')}`);
        assert.equal(ends.size, PARTITIONS, `the message log has ${ends.size} partitions, not ${PARTITIONS}`);
        assert.ok([...ends.values()].every((n) => n > 0n), 'every partition of the message log has records before the kill');

        const before = await Promise.all(workers.map((s) => written(s.http, 'created')));
        const victim = before.indexOf(Math.max(...before));
        const name = workers[victim].process.name;
        const survivors = workers.filter((_, i) => i !== victim);
        const atKill = w.world.acked().length;
        const killedAt = Date.now();
        await workers[victim].process.kill();
        log(`SIGKILL ${name} (messages written by each worker so far: ${workers.map((s, i) => `${s.process.name} ${before[i]}`).join(', ')}), ${atKill} sends acknowledged`);

        // What was acknowledged up to a second after the kill: some of it is on the dead worker's
        // partitions, which only a rebalance hands to the others.
        await until(() => Date.now() - killedAt >= 1_000 && w.world.acked().length >= atKill + 50, 60_000, `50 sends after the SIGKILL of ${name}`);
        const ackedBefore = w.world.acked();
        await historyHolds(w, ackedBefore, CATCH_UP_MS, `the SIGKILL of ${name}`);
        const caughtUpMs = Date.now() - killedAt;
        // The group reassigns partitions once every member rejoined; each learns of it at its next heartbeat.
        const rejoins = survivors.map((s) => firstLogAfter(s.process.logFile, killedAt, 're-joining'));
        log(`history holds all ${ackedBefore.length} sends acknowledged until a second after the kill (${ackedBefore.length - atKill} of them after it) ${caughtUpMs} ms after the kill; the other two workers were told to rejoin the group ${rejoins.map((t) => (t === undefined ? '(not logged)' : `${t - killedAt} ms`)).join(' and ')} after the kill (session timeout 10 s, heartbeats every 3 s)`);
        await probeLive(w, log, `chat-1 -> chat-2 with ${name} dead`, 30_000);

        const at = w.world.acked().length;
        await until(() => Date.now() - killedAt >= 20_000 && w.world.acked().length >= at + 300, 120_000, `300 more sends and 20 s after the SIGKILL of ${name}`);
        const known = new Set(ackedBefore);
        const since = w.world.acked().filter((a) => !known.has(a));
        const t0 = Date.now();
        await historyHolds(w, since, CATCH_UP_MS, `the load with ${name} dead`);
        log(`${since.length} more sends acknowledged with ${name} dead, all in history ${Date.now() - t0} ms after the last of them (reading them included)`);
        const [created, duplicate] = await Promise.all(['created', 'duplicate'].map(async (r) => Promise.all(survivors.map((s) => written(s.http, r as 'created' | 'duplicate')))));
        log(`since the start: ${survivors.map((s, i) => `${s.process.name} wrote ${created[i]} messages and ${duplicate[i]} again (records replayed from a commit)`).join('; ')}`);
      },
      // History is what this scenario proves (exactly once, in order); the devices' checks apply
      // too: with exact resume, a device that reconnected often under this load misses nothing.
      { warm: 300, after: 50, check: { historyTimeoutMs: CATCH_UP_MS } },
    );

    // The whole log written, and committed: the group's offsets reach the end of every partition.
    let committed = new Map<number, bigint>();
    const ends = await offsets.endOffsets();
    await until(async () => {
      committed = await offsets.committedOffsets();
      return [...ends].every(([p, end]) => (committed.get(p) ?? -1n) >= end);
    }, 60_000, 'the sync workers to commit the end of every partition').catch((err: unknown) => {
      throw new Error(`${String(err)}: ends ${[...ends].join(' ')}, committed ${[...committed].join(' ')}`);
    });

    // Order as a user reads it: in every conversation each id once, ids ascending, and each sender's
    // messages in the order it sent them (every sender sends one message at a time).
    const problems: string[] = [];
    let messages = 0;
    for (const c of w.world.conversations) {
      const history = await readConversation(await mesh.api(c.members[0]), c.id);
      messages += history.length;
      const ids = history.map((m) => BigInt(m.messageId));
      if (new Set(ids).size !== ids.length) problems.push(`${c.id}: an id twice in history`);
      if (ids.some((id, i) => i > 0 && id <= ids[i - 1])) problems.push(`${c.id}: history not in ascending id order`);
      for (const sender of c.members) {
        const sent = w.world.acked().filter((a) => a.conversationId === c.id && a.senderId === sender);
        const sentKeys = new Set(sent.map((a) => a.clientMsgId));
        const stored = history.filter((m) => m.senderId === sender && sentKeys.has(m.clientMsgId)).map((m) => m.clientMsgId);
        const expected = sent.map((a) => a.clientMsgId);
        if (stored.join() !== expected.join()) problems.push(`${c.id}: ${sender}'s ${expected.length} acknowledged sends stand in history as ${stored.length}, not in send order (first difference at ${expected.findIndex((k, i) => stored[i] !== k)})`);
        const ackIds = sent.map((a) => BigInt(a.acks[0].messageId));
        if (ackIds.some((id, i) => i > 0 && id <= ackIds[i - 1])) problems.push(`${c.id}: ${sender}'s sends were acknowledged with ids that do not ascend in send order`);
      }
    }
    const groups = w.world.conversations.filter((c) => c.id.startsWith('g:')).length;
    console.log(`[faults] sync-kill: ${messages} messages in the history of ${w.world.conversations.length} conversations (${groups} groups, ${w.world.conversations.length - groups} DMs); per sender and conversation in send order: ${problems.length === 0 ? 'yes' : 'NO'}`);
    assert.deepEqual(problems.slice(0, 20), []);
  });
});

/**
 * 24 users on the two chat servers, in six groups of four and 72 DMs (each user with three
 * others, at odd distances), the twelve of even index sending: every conversation has a sender,
 * so every partition that holds one is busy. Plus a probe pair, one on each server.
 */
async function busyWorld(mesh: FaultMesh, rng: SeededRandom): Promise<StandardWorld> {
  const world = new FaultWorld(mesh, 'sync-kill', rng);
  const users = Array.from({ length: USERS }, (_, i) => world.user(`u${i}`));
  for (let g = 0; g < USERS; g += 4) await world.group(users.slice(g, g + 4));
  for (let i = 0; i < USERS; i++) for (const k of [1, 5, 11]) world.dm(users[i], users[(i + k) % USERS]);
  const [p, q] = [world.user('probe1'), world.user('probe2')];
  const probeConv = world.dm(p, q);
  const devices = await Promise.all(users.map((u, i) => world.device(u, (i >> 1) % 2)));
  const probe = { from: await world.device(p, 0), to: await world.device(q, 1), conversationId: probeConv.id };
  return { world, senders: devices.filter((_, i) => i % 2 === 0), probe };
}

/** The time of the first line of a JSON log after `afterMs` that contains `text`. */
function firstLogAfter(file: string, afterMs: number, text: string): number | undefined {
  const times = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(text))
    .map((l) => Number(/"time":(\d+)/.exec(l)?.[1] ?? NaN))
    .filter((t) => t > afterMs);
  return times.length > 0 ? Math.min(...times) : undefined;
}

/** A conversation's whole history through the api-server, oldest first. */
async function readConversation(api: ChatApi, conversationId: string): Promise<ChatMessage[]> {
  return (await listAllMessages(api, conversationId)).reverse();
}

/**
 * Waits until history, read through the api-server as a user reads it, holds every one of `sends`
 * (acknowledged) under the id its ack named; fails after `timeoutMs` naming how many are missing.
 * Each round pages a conversation back only as far as its oldest message still missing.
 */
async function historyHolds(w: StandardWorld, sends: readonly SendAttempt[], timeoutMs: number, what: string): Promise<void> {
  const pending = new Map<string, Set<string>>();
  for (const a of sends) {
    const ids = pending.get(a.conversationId) ?? new Set<string>();
    ids.add(a.acks[0].messageId);
    pending.set(a.conversationId, ids);
  }
  const apis = new Map<string, ChatApi>();
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  const check = async (conversationId: string, ids: Set<string>) => {
    const members = w.world.conversations.find((c) => c.id === conversationId)!.members;
    const api = apis.get(conversationId) ?? (await w.world.mesh.api(members[0]));
    apis.set(conversationId, api);
    const oldest = [...ids].reduce((x, y) => (BigInt(y) < BigInt(x) ? y : x));
    try {
      let beforeId = '';
      for (;;) {
        const page = await api.listMessages({ conversationId, beforeId, limit: 100 });
        for (const m of page.messages) ids.delete(m.messageId);
        const last = page.messages.at(-1)?.messageId;
        if (!page.hasMore || last === undefined || BigInt(last) <= BigInt(oldest) || ids.size === 0) break;
        beforeId = last;
      }
    } catch (err) {
      lastError = String(err); // read again next round
    }
    if (ids.size === 0) pending.delete(conversationId);
  };
  for (;;) {
    // A few readers at once, so that a round (and with it the measured catch-up) stays short.
    const queue = [...pending];
    await Promise.all(
      Array.from({ length: READERS }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await check(...next);
      }),
    );
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const missing = [...pending.values()].flatMap((s) => [...s]);
      assert.fail(`history did not catch up within ${timeoutMs} ms of ${what}: ${missing.length} of ${sends.length} acknowledged messages still missing in ${pending.size} conversation(s), e.g. ${missing.slice(0, 5).join(', ')}${lastError ? `; last read error: ${lastError}` : ''}`);
    }
    await sleep(250);
  }
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { GapReason } from '../../gen/chat/v1/gateway';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { PresenceStatus } from '../../gen/chat/v1/message';
import type { ChatClient } from '../../internal/client/chat-client';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { sampleValue } from '../../internal/telemetry/metrics-parse';
import { waitUntil } from '../../internal/testing/wait-until';
import { TestMesh } from './mesh-harness';

/**
 * The distributed mesh as real processes on real Kafka, Redis and Cassandra: every test asserts
 * what was delivered and by which path (the chat servers' metrics).
 */
describe('the mesh: chat servers relaying to each other, with the Kafka fallback', { timeout: 600_000 }, () => {
  let mesh: TestMesh;
  const clients: ChatClient[] = [];
  const connect = async (user: string, server: number, deviceId = `${user}-dev`) => {
    const c = await mesh.connect(user, server, { deviceId });
    clients.push(c);
    return c;
  };
  const counter = async (server: number, key: string) => sampleValue(await mesh.metrics(mesh.chatServers[server].http), key);

  before(async () => {
    mesh = await TestMesh.start({ chatServers: 3 });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await mesh?.stop();
  });

  it('delivers a DM between users on different chat servers over the relay', async () => {
    const alice = await connect('relay-alice', 0);
    const bob = await connect('relay-bob', 1);
    const relayedBefore = await counter(0, 'chat_deliveries_total{path="relay"}');
    const ack = await alice.send(dmConversationId('relay-alice', 'relay-bob'), 'hello across servers');
    const got = await bob.waitForMessage((m) => m.messageId === ack.messageId);
    assert.equal(got.text, 'hello across servers');
    assert.equal(got.senderId, 'relay-alice');
    await waitUntil(async () => (await counter(0, 'chat_deliveries_total{path="relay"}')) === relayedBefore + 1, 5_000, 'the sender to count one relay delivery');
    assert.equal(await counter(0, 'chat_fallback_batches_total{reason="stream_down"}'), 0);
  });

  it("points the api-server's web client at the chat servers", async () => {
    const config = (await (await fetch(`${mesh.services.api.http}/web-config.json`)).json()) as { wsUrls: string[] };
    assert.deepEqual(config.wsUrls, mesh.chatServers.map((c) => c.wsUrl));
  });

  it('falls back to Kafka when the relay to a peer is cut, and goes back to the relay when it returns', async () => {
    const alice = await connect('cut-alice', 0);
    const bob = await connect('cut-bob', 2);
    const dm = dmConversationId('cut-alice', 'cut-bob');
    // Warm the stream, then partition chat-3's relay listener.
    const warm = await alice.send(dm, 'before the cut');
    await bob.waitForMessage((m) => m.messageId === warm.messageId);
    const fallbackBefore = await counter(0, 'chat_deliveries_total{path="fallback"}');
    await mesh.chatServers[2].relayProxy.cut();
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push((await alice.send(dm, `during the cut ${i}`)).messageId);
    for (const id of during) await bob.waitForMessage((m) => m.messageId === id, 15_000);
    assert.ok((await counter(0, 'chat_deliveries_total{path="fallback"}')) >= fallbackBefore + during.length, 'the cut deliveries went through Kafka');

    await mesh.chatServers[2].relayProxy.restore();
    const relayBefore = await counter(0, 'chat_deliveries_total{path="relay"}');
    await waitUntil(
      async () => {
        const ack = await alice.send(dm, 'after the cut');
        await bob.waitForMessage((m) => m.messageId === ack.messageId, 15_000);
        return (await counter(0, 'chat_deliveries_total{path="relay"}')) > relayBefore;
      },
      30_000,
      'the relay to be used again once the peer is reachable',
    );
  });
  it('fans a 500-member group out to every device on 3 servers, once each, one relay batch per server per flush', async () => {
    const members = Array.from({ length: 500 }, (_, i) => `g500-${i}`);
    const api = await mesh.api(members[0]);
    const group = await api.createGroup('five hundred', members.slice(1, 100));
    for (let i = 100; i < members.length; i += 100) await api.addMembers(group.groupId, members.slice(i, i + 100));
    const seen = new Map<string, string[]>();
    const devices = [];
    for (let i = 0; i < members.length; i += 25) {
      devices.push(
        ...(await Promise.all(
          members.slice(i, i + 25).map((u, j) =>
            mesh.connect(u, (i + j) % 3, { autoHeartbeat: true, listeners: { message: (m: ChatMessage) => seen.set(u, [...(seen.get(u) ?? []), m.messageId]) } }),
          ),
        )),
      );
    }
    clients.push(...devices);
    const batchesBefore = await counter(0, 'chat_relay_batches_total{result="acked"}');
    const relayBefore = await counter(0, 'chat_deliveries_total{path="relay"}');
    const ids: string[] = [];
    for (let k = 0; k < 5; k++) ids.push((await devices[0].send(`g:${group.groupId}`, `to everyone ${k}`)).messageId);
    const others = members.slice(1);
    await waitUntil(() => others.every((u) => ids.every((id) => seen.get(u)?.includes(id))), 30_000, 'every member device to get every message');
    for (const u of others) assert.deepEqual([...(seen.get(u) ?? [])].sort(), [...ids].sort(), `${u} got each message exactly once`);
    // Members are spread over 3 servers: a message costs at most one relay batch per peer server.
    // Both counters move when a peer's acknowledgement comes back, which may be just after its
    // members were shown the message: wait for the deliveries to be counted, then compare.
    const remote = others.filter((_, i) => (i + 1) % 3 !== 0).length;
    const relayed = async () => (await counter(0, 'chat_deliveries_total{path="relay"}')) - relayBefore;
    await waitUntil(async () => (await relayed()) >= remote * ids.length, 5_000, 'the relay deliveries to be acknowledged').catch(() => undefined);
    assert.equal(await relayed(), remote * ids.length, 'one relay delivery per remote member per message');
    const batches = (await counter(0, 'chat_relay_batches_total{result="acked"}')) - batchesBefore;
    assert.ok(batches >= 1 && batches <= ids.length * 2, `${batches} relay batches for ${ids.length} messages to 2 peers`);
  });

  it("shows presence across servers; a SIGKILLed server's users go OFFLINE within the TTL and catch up elsewhere", async () => {
    const watcher = await connect('pk-watcher', 0);
    const victim = await connect('pk-victim', 2);
    const dm = dmConversationId('pk-watcher', 'pk-victim');
    const first = await watcher.send(dm, 'are you there?');
    await victim.waitForMessage((m) => m.messageId === first.messageId);
    // Presence is visible once the DM is in history (the sync worker wrote it).
    await waitUntil(async () => (await (await mesh.api('pk-watcher')).listMessages({ conversationId: dm })).messages.length > 0, 15_000, 'the DM to reach history');
    await watcher.subscribePresence(['pk-victim']);
    await watcher.waitFor((f) => (f.frame?.$case === 'presence' && f.frame.value.userId === 'pk-victim' && f.frame.value.status === PresenceStatus.PRESENCE_STATUS_ONLINE ? true : undefined), 5_000);

    const killedAt = Date.now();
    await mesh.chatServers[2].process.kill();
    await watcher.waitFor((f) => (f.frame?.$case === 'presence' && f.frame.value.userId === 'pk-victim' && f.frame.value.status === PresenceStatus.PRESENCE_STATUS_OFFLINE ? true : undefined), 15_000);
    const offlineAfterMs = Date.now() - killedAt;
    assert.ok(offlineAfterMs < 6_000 + 2_000, `OFFLINE after ${offlineAfterMs} ms (TTL 6000 ms plus a sweep)`);

    const missed: string[] = [];
    for (let i = 0; i < 3; i++) missed.push((await watcher.send(dm, `while you were gone ${i}`)).messageId);
    await waitUntil(async () => (await (await mesh.api('pk-watcher')).listMessages({ conversationId: dm })).messages.length >= 4, 15_000, 'the missed messages to reach history');
    const shown: string[] = [];
    const back = await mesh.connect('pk-victim', 1, {
      lastSeen: { [dm]: first.messageId },
      listeners: { message: (m: ChatMessage) => shown.push(m.messageId), historyPage: (p) => shown.push(...p.messages.map((m) => m.messageId)) },
    });
    clients.push(back);
    await waitUntil(() => missed.every((id) => shown.includes(id)), 10_000, 'the reconnected device to catch up');
    await mesh.chatServers[2].process.start();
  });

  it('keeps history complete and in order from any server; a sync worker killed mid-stream leaves no gap and no duplicate', async () => {
    const a = await connect('sync-a', 0);
    const dm = dmConversationId('sync-a', 'sync-b');
    const sent: string[] = [];
    const sending = (async () => {
      for (let i = 0; i < 60; i++) sent.push((await a.send(dm, `m${i}`)).messageId);
    })();
    await waitUntil(() => sent.length >= 15, 15_000, 'sends to be under way');
    await mesh.services.sync.process.kill();
    await sending;
    await mesh.services.sync.process.start();
    for (const server of [0, 1, 2]) {
      const b = await mesh.connect('sync-b', server, { deviceId: `sync-b-${server}` });
      clients.push(b);
      await waitUntil(async () => (await b.history({ conversationId: dm, limit: 100 })).messages.length >= sent.length, 30_000, 'the sync worker to catch up');
      const page = await b.history({ conversationId: dm, limit: 100 });
      const ids = page.messages.map((m) => m.messageId).reverse();
      assert.deepEqual(ids, sent, `history through chat-${server + 1}: every acknowledged message once, in send order`);
    }
    const writes = await mesh.metrics(mesh.services.sync.http);
    assert.ok(sampleValue(writes, 'chat_sync_writes_total{result="created"}') <= sent.length, 'the restarted worker created no extra rows');
  });

  it('resumes after the sync worker has caught up, and names a HISTORY_BEHIND gap when it does not in time', async () => {
    const dm = dmConversationId('gap-a', 'gap-b');
    const a = await connect('gap-a', 0);
    const b = await connect('gap-b', 1, 'gap-b-phone');
    const first = (await a.send(dm, 'first')).messageId;
    await b.waitFor((f) => (f.frame?.$case === 'message' && f.frame.value.messageId === first ? true : undefined));
    await b.close();
    const sync = mesh.services.sync.process.pid!;
    const resume = async (server: number) => {
      const c = await mesh.connect('gap-b', server, { deviceId: 'gap-b-phone', lastSeen: { [dm]: first }, requestTimeoutMs: 15_000 });
      clients.push(c);
      const done = await c.waitFor((f) => (f.frame?.$case === 'resumeComplete' ? f.frame.value : undefined));
      const frames = c.pushedFrames();
      return {
        c,
        done,
        replayed: frames.flatMap((f) => (f.frame?.$case === 'historyPage' ? f.frame.value.messages.map((m) => m.messageId) : [])),
        gaps: frames.flatMap((f) => (f.frame?.$case === 'gap' ? [f.frame.value] : [])),
      };
    };

    // Acknowledged while the sync worker is stopped; it resumes 1 s into the device's resume,
    // within CHAT_RESUME_SYNC_WAIT_MS (3 s): the replay waits for it and is complete.
    process.kill(sync, 'SIGSTOP');
    const second = (await a.send(dm, 'second')).messageId;
    setTimeout(() => process.kill(sync, 'SIGCONT'), 1_000);
    const waited = await resume(2);
    assert.ok(waited.replayed.includes(second), 'the message acknowledged before the resume is replayed');
    assert.deepEqual(waited.gaps, []);
    await waited.c.close();

    // Stopped for longer than the wait: what history has is replayed, and a gap says so.
    process.kill(sync, 'SIGSTOP');
    const third = (await a.send(dm, 'third')).messageId;
    let behind: Awaited<ReturnType<typeof resume>>;
    try {
      behind = await resume(0);
    } finally {
      process.kill(sync, 'SIGCONT');
    }
    assert.ok(!behind.replayed.includes(third), 'history did not have it yet');
    assert.equal(behind.gaps.length, 1);
    assert.equal(behind.gaps[0].reason, GapReason.GAP_REASON_HISTORY_BEHIND);
    assert.deepEqual(behind.done, { conversations: 1, gaps: 1 });
    // The client pages on from the gap once history has caught up, and finds it.
    await waitUntil(async () => (await behind.c.history({ conversationId: dm, afterId: behind.gaps[0].afterId })).messages.some((m) => m.messageId === third), 30_000, 'the gap to be served by history');
  });

  it('loses no acknowledged message across a rolling restart of every chat server', async () => {
    const dm = dmConversationId('roll-a', 'roll-b');
    const acked: string[] = [];
    let stop = false;
    const sender = (async () => {
      let i = 0;
      while (!stop) {
        const server = i % 3;
        try {
          const c = await mesh.connect('roll-a', server, { deviceId: `roll-a-${i}` });
          for (let k = 0; k < 5 && !stop; k++) {
            try {
              acked.push((await c.send(dm, `r${i}-${k}`)).messageId);
            } catch {
              break; // go_away or a closed socket: reconnect to the next server
            }
          }
          await c.close().catch(() => undefined);
        } catch {
          // that server is restarting
        }
        i++;
      }
    })();
    for (const cs of mesh.chatServers) {
      await waitUntil(() => acked.length > 0, 10_000, 'sends before the restart');
      assert.equal(await cs.process.stop('SIGTERM'), 0, `${cs.id} drains and exits 0`);
      await cs.process.start();
    }
    stop = true;
    await sender;
    const reader = await mesh.connect('roll-b', 0);
    clients.push(reader);
    await waitUntil(
      async () => {
        const have = new Set<string>();
        let before = '';
        for (;;) {
          const page = await reader.history({ conversationId: dm, limit: 100, beforeId: before });
          page.messages.forEach((m) => have.add(m.messageId));
          if (!page.hasMore) break;
          before = page.messages.at(-1)!.messageId;
        }
        return acked.every((id) => have.has(id));
      },
      30_000,
      `all ${acked.length} acknowledged messages to be in history`,
    );
  });

  it("traces one message from the send through the relay to the sync worker's Cassandra write", async (t) => {
    const a = await connect('trace-a', 0);
    const b = await connect('trace-b', 1);
    const ack = await a.send(dmConversationId('trace-a', 'trace-b'), 'follow me');
    await b.waitForMessage((m) => m.messageId === ack.messageId);
    type Line = { traceId: string; name: string; service: string; instance: string; startMs: number; durationMs: number; attributes: Record<string, unknown> };
    const spansOf = () => readFileSync(mesh.traceFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
    await waitUntil(() => spansOf().some((s) => s.name === 'chat.sync.write' && s.attributes['chat.message_id'] === ack.messageId), 15_000, 'the sync write span');
    const traceId = spansOf().find((s) => s.name === 'chat.sync.write' && s.attributes['chat.message_id'] === ack.messageId)!.traceId;
    await waitUntil(() => spansOf().some((s) => s.traceId === traceId && s.name === 'chat.deliver.relay'), 5_000, 'the relay delivery span');
    const trace = spansOf().filter((s) => s.traceId === traceId).sort((x, y) => x.startMs - y.startMs);
    // The trace in the test output: what a reader of traces.jsonl (or an OTel backend) would see.
    t.diagnostic(`trace ${traceId} of message ${ack.messageId}:`);
    for (const s of trace) t.diagnostic(`  +${(s.startMs - trace[0].startMs).toFixed(1)} ms  ${s.service} (${s.instance.split('/')[1] ?? s.instance})  ${s.name}  ${s.durationMs.toFixed(1)} ms`);
    const names = new Set(trace.map((s) => `${s.service}:${s.name}`));
    for (const want of ['chat-server:chat.send', 'chat-server:chat.deliver.relay', 'sync-worker:chat.sync.write']) assert.ok(names.has(want), `${want} in ${[...names].join(', ')}`);
    assert.ok(trace.some((s) => s.service === 'sync-worker' && s.name.startsWith('cassandra-driver')), 'the Cassandra write is in the trace');
  });
});

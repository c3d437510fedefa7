import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMetrics } from '../../internal/telemetry/metrics-parse';
import { activityOf, atRest, waitAtRest } from './mesh-at-rest';

// Test fixtures: metrics pages written for the test, shaped like the chat servers' and services'.
function page(o: { connections: number; relayed: number; locate: number; heartbeats: number; syncWrites: number }): string {
  return [
    '# HELP chat_connections Live client connections on this chat server.',
    `chat_connections{service="chat-server",instance="chat-1"} ${o.connections}`,
    `chat_deliveries_total{path="relay",service="chat-server",instance="chat-1"} ${o.relayed}`,
    `chat_rpc_calls_total{method="/chat.v1.SessionService/LocateUsers",service="session-service",instance="s"} ${o.locate}`,
    `chat_rpc_calls_total{method="/chat.v1.SessionService/Heartbeat",service="session-service",instance="s"} ${o.heartbeats}`,
    `chat_rpc_calls_total{method="/grpc.health.v1.Health/Check",service="session-service",instance="s"} ${o.heartbeats}`,
    `chat_rpc_calls_total{method="/chat.v1.SessionService/RenewServerLease",service="session-service",instance="s"} ${o.heartbeats * 3}`,
    `chat_sync_writes_total{result="created",service="sync-worker",instance="w"} ${o.syncWrites}`,
    `chat_kafka_requests_total{api="Fetch",service="sync-worker",instance="w"} ${o.heartbeats * 7}`,
  ].join('\n');
}

describe('activityOf / atRest', () => {
  it('counts client connections and client-driven work, not heartbeats, lease renewals, health checks or Kafka polls', () => {
    assert.deepEqual(activityOf(parseMetrics(page({ connections: 3, relayed: 10, locate: 5, heartbeats: 1000, syncWrites: 7 }))), { connections: 3, work: 22 });
  });

  it('is at rest with no connection and at most REST_WORK_PER_SAMPLE units of work between two reads', () => {
    assert.equal(atRest({ connections: 0, work: 100 }, { connections: 0, work: 110 }), true);
    assert.equal(atRest({ connections: 0, work: 100 }, { connections: 0, work: 111 }), false);
    assert.equal(atRest({ connections: 1, work: 100 }, { connections: 1, work: 100 }), false);
    assert.equal(atRest({ connections: 1, work: 100 }, { connections: 1, work: 110 }, true), true, 'settled: users may stay');
    assert.equal(atRest({ connections: 1, work: 100 }, { connections: 1, work: 111 }, true), false);
  });
});

describe('waitAtRest', () => {
  let server: Server;
  let dir: string;
  let scrapes = 0;
  /** The fixture mesh: busy (users leaving, the sync worker catching up) for the first `busyScrapes` scrapes. */
  let busyScrapes = 0;
  before(async () => {
    server = createServer((_req, res) => {
      scrapes++;
      const busy = scrapes <= busyScrapes;
      res.end(page({ connections: busy ? 5 : 0, relayed: 1000, locate: 200, heartbeats: scrapes * 50, syncWrites: busy ? scrapes * 100 : busyScrapes * 100 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    dir = mkdtempSync(join(tmpdir(), 'at-rest-'));
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ chatServers: [{ id: 'chat-1', http: `http://127.0.0.1:${port}` }], services: [] }));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns once the mesh has gone quiet', async () => {
    scrapes = 0;
    busyScrapes = 4;
    const r = await waitAtRest(dir, { sampleMs: 10, timeoutMs: 5000 });
    assert.equal(r.atRest, true);
    assert.deepEqual(r.last, { connections: 0, work: 0 });
    // Scrape 5 is the first with nobody connected and no work since scrape 4.
    assert.equal(scrapes, 5);
  });

  it('gives up after its timeout and says what it last saw', async () => {
    scrapes = 0;
    busyScrapes = Number.MAX_SAFE_INTEGER;
    const r = await waitAtRest(dir, { sampleMs: 10, timeoutMs: 100 });
    assert.equal(r.atRest, false);
    assert.deepEqual(r.last, { connections: 5, work: 100 });
  });
});

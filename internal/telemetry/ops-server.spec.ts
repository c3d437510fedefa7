import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ChatMetrics } from './metrics';
import { parseMetrics } from './metrics-parse';
import { metricsRoute, startOpsServer, type OpsServer, type Readiness } from './ops-server';

const log = pino({ level: 'silent' });

describe('ops server', () => {
  let server: OpsServer;
  let base: string;
  let readiness: Readiness = false;
  const metrics = new ChatMetrics({ service: 'session-service', instance: 's-1', processMetrics: false });

  before(async () => {
    server = await startOpsServer({ host: '127.0.0.1', port: 0, metrics, ready: () => readiness, log });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  it('answers /healthz while running', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('answers /readyz with 503 and a reason until ready, then 200', async () => {
    readiness = false;
    let res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'not ready', reason: 'starting or draining' });
    readiness = { ready: false, reason: 'cassandra unreachable' };
    res = await fetch(`${base}/readyz`);
    assert.deepEqual([res.status, await res.json()], [503, { status: 'not ready', reason: 'cassandra unreachable' }]);
    readiness = true;
    res = await fetch(`${base}/readyz`);
    assert.deepEqual([res.status, await res.json()], [200, { status: 'ready' }]);
  });

  it('serves /metrics in the Prometheus text format', async () => {
    metrics.syncWrites.inc({ result: 'created' }, 2);
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), metrics.contentType);
    assert.equal(parseMetrics(await res.text()).get('chat_sync_writes_total{result="created"}'), 2);
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });

  it('rejects when the port is taken', async () => {
    await assert.rejects(startOpsServer({ host: '127.0.0.1', port: server.port, metrics, ready: () => true, log }), /EADDRINUSE/);
  });
});

describe('metricsRoute', () => {
  it('plugs into another HTTP server', async () => {
    const metrics = new ChatMetrics({ service: 'api-server', instance: 'api-1', processMetrics: false });
    metrics.sends.inc({ result: 'error' });
    const route = metricsRoute(metrics, log);
    const server = createServer((req, res) => void route(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      assert.equal(parseMetrics(await res.text()).get('chat_sends_total{result="error"}'), 1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

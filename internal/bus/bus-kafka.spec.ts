import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { KafkaBus } from './bus-kafka';

const log = pino({ level: 'silent' });

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** Starting against brokers that are not there fails in bounded time, naming them. No broker needed. */
describe('KafkaBus startup without a reachable broker', () => {
  it('fails fast when nothing listens on the broker port', async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise((r) => server.close(r));
    const t0 = Date.now();
    await assert.rejects(
      KafkaBus.start({ brokers: [`127.0.0.1:${port}`], clientId: 'unit', log, retries: 2, timeouts: { startupMs: 5_000 } }),
      (err: Error) => err.message.includes(`127.0.0.1:${port}`) && /could not start/.test(err.message),
    );
    assert.ok(Date.now() - t0 < 5_500, `gave up after ${Date.now() - t0} ms`);
  });

  it('gives up at the startup deadline when the broker accepts but never answers', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => void sockets.add(s));
    const port = await listen(server);
    try {
      const t0 = Date.now();
      await assert.rejects(
        KafkaBus.start({ brokers: [`127.0.0.1:${port}`], clientId: 'unit', log, retries: 1, timeouts: { startupMs: 1_500, requestMs: 30_000 } }),
        (err: Error) => err.message.includes(`127.0.0.1:${port}`) && /within 1500 ms/.test(err.message),
      );
      assert.ok(Date.now() - t0 < 4_000, `gave up after ${Date.now() - t0} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

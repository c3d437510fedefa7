import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ChatError } from '../errors/chat-error';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { waitUntil } from '../testing/wait-until';
import { LeasedIdSource } from './leased-id-source';
import { parseSnowflake } from './snowflake';
import { MemoryWorkerIdTable, MemoryWorkerLease } from './worker-lease-memory';

const log = pino({ level: 'silent' });
const refused = (ids: LeasedIdSource): boolean => {
  try {
    ids.nextString();
    return false;
  } catch (err) {
    return err instanceof ChatError && err.code === ErrorCode.ERROR_CODE_UNAVAILABLE;
  }
};

describe('LeasedIdSource', () => {
  it('refuses ids once its lease is lost, then acquires one again in place and issues ids past the old ones', async () => {
    const table = new MemoryWorkerIdTable();
    const ids = new LeasedIdSource({ newLease: () => new MemoryWorkerLease({ range: { min: 5, max: 5 }, table, ttlMs: 300 }), retryMs: 50, log });
    assert.equal(await ids.start(), 5);
    const before = Array.from({ length: 5000 }, () => ids.nextString()); // more than one millisecond's sequence
    table.forget(5); // what a Redis restart does to every lease
    await waitUntil(() => refused(ids), 2_000, 'the lost lease to refuse ids');
    await waitUntil(() => !refused(ids), 2_000, 'a new lease');
    assert.equal(ids.workerId, 5);
    const after = ids.nextString();
    assert.ok(parseSnowflake(after) > parseSnowflake(before.at(-1)!), `${after} after ${before.at(-1)}`);
    await ids.close();
  });

  it('keeps retrying while another process holds the only id, and takes it once freed', async () => {
    const table = new MemoryWorkerIdTable();
    const range = { min: 9, max: 9 };
    const ids = new LeasedIdSource({ newLease: () => new MemoryWorkerLease({ range, table, ttlMs: 300 }), retryMs: 20, log });
    await ids.start();
    table.forget(9);
    const other = new MemoryWorkerLease({ range, table, ttlMs: 300 });
    await other.acquire();
    await waitUntil(() => refused(ids), 2_000, 'the loss to be noticed');
    await new Promise((r) => setTimeout(r, 300)); // several failed attempts
    assert.equal(refused(ids), true, 'never two holders of one worker id');
    await other.release();
    await waitUntil(() => !refused(ids), 2_000, 'the freed id to be acquired');
    await ids.close();
    assert.equal(await new MemoryWorkerLease({ range, table }).acquire(), 9, 'close releases the lease');
  });

  it('fails to start, naming the range, when no id is free', async () => {
    const table = new MemoryWorkerIdTable();
    await new MemoryWorkerLease({ range: { min: 1, max: 1 }, table }).acquire();
    const ids = new LeasedIdSource({ newLease: () => new MemoryWorkerLease({ range: { min: 1, max: 1 }, table }), retryMs: 20, log });
    await assert.rejects(ids.start(), /no free snowflake worker id in 1\.\.1/);
  });
});

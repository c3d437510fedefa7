import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../testing/wait-until';
import { MemoryWorkerIdTable, MemoryWorkerLease } from './worker-lease-memory';
import { workerLeaseContract } from './worker-lease.contract';

workerLeaseContract('memory', () => {
  const table = new MemoryWorkerIdTable();
  return Promise.resolve({
    lease: (range, timing) => new MemoryWorkerLease({ range, table, ...timing }),
    forget: (id) => Promise.resolve(table.forget(id)),
    close: () => Promise.resolve(),
  });
});

describe('MemoryWorkerLease in chatd', () => {
  it('always leases the configured id', async () => {
    const lease = new MemoryWorkerLease({ range: { min: 42, max: 42 } });
    assert.equal(await lease.acquire(), 42);
    assert.equal(lease.isHeld(), true);
    await lease.release();
  });

  it('rejects a range outside 0..1023 and timing that cannot renew in time', () => {
    assert.throws(() => new MemoryWorkerLease({ range: { min: 0, max: 1024 } }), /within 0\.\.1023/);
    assert.throws(() => new MemoryWorkerLease({ range: { min: 1, max: 1 }, ttlMs: 100, renewIntervalMs: 95 }), /renewIntervalMs/);
  });

  it('fails closed at once when the event loop was blocked past the TTL, before any timer runs', async () => {
    const lease = new MemoryWorkerLease({ range: { min: 2, max: 2 }, ttlMs: 100 });
    let lost = false;
    lease.onLost(() => (lost = true));
    await lease.acquire();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150); // the blocked loop under test
    assert.equal(lease.isHeld(), false, 'isHeld() reads the clock, not a timer');
    await waitUntil(() => lost, 2_000, 'onLost');
  });

  it('refuses a second acquire on one lease object', async () => {
    const lease = new MemoryWorkerLease({ range: { min: 1, max: 1 } });
    await lease.acquire();
    await assert.rejects(lease.acquire(), /create a new lease/);
    await lease.release();
  });
});

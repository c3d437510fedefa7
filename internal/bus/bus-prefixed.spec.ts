import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { waitUntil } from '../testing/wait-until';
import type { BusRecord } from './bus';
import { MemoryBus } from './bus-memory';
import { prefixedBus } from './bus-prefixed';

describe('prefixedBus', () => {
  it('keeps deployments sharing one bus apart and hides the prefix from handlers', async () => {
    const shared = new MemoryBus(pino({ level: 'silent' }));
    const a = prefixedBus(shared, 'a.');
    const b = prefixedBus(shared, 'b.');
    const seenA: BusRecord[] = [];
    const seenB: BusRecord[] = [];
    const raw: string[] = [];
    await a.subscribe('presence', (r) => void seenA.push(r)).ready;
    await b.subscribe('presence', (r) => void seenB.push(r)).ready;
    await shared.subscribe('a.presence', (r) => void raw.push(r.topic)).ready;
    await a.publish('presence', 'k', new Uint8Array([1]));
    await waitUntil(() => seenA.length === 1 && raw.length === 1);
    assert.equal(seenA[0].topic, 'presence');
    assert.deepEqual(raw, ['a.presence']);
    assert.equal(seenB.length, 0);
    await shared.close();
  });

  it('prefixes batch subscriptions the same way', async () => {
    const shared = new MemoryBus(pino({ level: 'silent' }));
    const a = prefixedBus(shared, 'a.');
    const batches: BusRecord[][] = [];
    await a.subscribeBatch('log', (rs) => void batches.push(rs), { group: 'g', maxBatch: 10 }).ready;
    await prefixedBus(shared, 'b.').publish('log', 'k', new Uint8Array([0]));
    await a.publish('log', 'k', new Uint8Array([1]));
    await waitUntil(() => batches.length === 1);
    assert.deepEqual(batches[0].map((r) => [r.topic, r.payload[0]]), [['log', 1]]);
    await shared.close();
  });
});

import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, BusRecord } from './bus';
import { waitUntil } from '../testing/wait-until';

/** The Bus guarantees, run against every adapter (memory here, Kafka in the engines suite). */
export function busContract(name: string, factory: () => Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus | undefined;
    afterEach(async () => bus?.close());
    const topic = () => `t-${Math.random().toString(36).slice(2)}`;
    const bytes = (s: string) => new TextEncoder().encode(s);
    const text = (r: BusRecord) => new TextDecoder().decode(r.payload);

    it('broadcasts every record to every subscription, in order per key', async () => {
      bus = await factory();
      const t = topic();
      const a: string[] = [];
      const b: string[] = [];
      bus.subscribe(t, (r) => void a.push(text(r)));
      bus.subscribe(t, (r) => void b.push(text(r)));
      for (let i = 0; i < 50; i++) await bus.publish(t, 'k', bytes(String(i)));
      await waitUntil(() => a.length === 50 && b.length === 50);
      assert.deepEqual(a, Array.from({ length: 50 }, (_, i) => String(i)));
      assert.deepEqual(b, a);
    });

    it('keeps a subscription alive when its handler throws', async () => {
      bus = await factory();
      const t = topic();
      const seen: string[] = [];
      bus.subscribe(t, (r) => {
        if (text(r) === 'poison') throw new Error('poison');
        seen.push(text(r));
      });
      await bus.publish(t, 'k', bytes('poison'));
      await bus.publish(t, 'k', bytes('ok'));
      await waitUntil(() => seen.length === 1);
      assert.deepEqual(seen, ['ok']);
    });

    it('stops delivering after close', async () => {
      bus = await factory();
      const t = topic();
      const seen: string[] = [];
      const sub = bus.subscribe(t, (r) => void seen.push(text(r)));
      await bus.publish(t, 'k', bytes('1'));
      await waitUntil(() => seen.length === 1);
      sub.close();
      await bus.publish(t, 'k', bytes('2'));
      await bus.publish(t, 'k', bytes('3'));
      const probe: string[] = [];
      bus.subscribe(t, (r) => void probe.push(text(r)));
      await bus.publish(t, 'k', bytes('4'));
      await waitUntil(() => probe.length === 1);
      assert.deepEqual(seen, ['1']);
    });
  });
}

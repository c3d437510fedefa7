import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { PARKED_HEADERS, parkedTopic, type BatchSubscribeOptions, type Bus, type BusRecord, type Subscription } from './bus';
import type { BusContractOptions } from './bus.contract';
import { waitUntil } from '../testing/wait-until';

/**
 * The Bus guarantees of batch subscriptions (`subscribeBatch`), run against every adapter (memory
 * beside this file, Kafka in the engine suite). The factory builds a fresh bus whose delivery
 * policy allows at least 2 attempts with a short backoff.
 */
export function busBatchContract(name: string, factory: () => Promise<Bus>, options: BusContractOptions = {}): void {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const name36 = () => `${options.prefix ?? ''}${Math.random().toString(36).slice(2, 10)}`;
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (r: BusRecord) => new TextDecoder().decode(r.payload);
  const texts = (rs: BusRecord[]) => rs.map(text);
  const until = (cond: () => boolean, what: string) => waitUntil(cond, timeoutMs, what);

  describe(`Bus batch contract: ${name}`, () => {
    let bus: Bus;
    afterEach(async () => bus?.close());

    async function sub(topic: string, handle: (rs: BusRecord[]) => Promise<void> | void, opts: BatchSubscribeOptions): Promise<Subscription> {
      const s = bus.subscribeBatch(topic, handle, opts);
      await s.ready;
      return s;
    }

    it('refuses a maxBatch that is not a positive integer, and a negative lingerMs', async () => {
      bus = await factory();
      for (const maxBatch of [0, -1, 1.5, Number.NaN]) {
        assert.throws(() => bus.subscribeBatch(`${name36()}-bad`, () => undefined, { maxBatch }), RangeError);
      }
      assert.throws(() => bus.subscribeBatch(`${name36()}-bad`, () => undefined, { maxBatch: 1, lingerMs: -1 }), RangeError);
    });

    it('hands over a batch that is not full within about lingerMs, in order', async () => {
      bus = await factory();
      const t = `${name36()}-linger`;
      const batches: string[][] = [];
      await sub(t, (rs) => void batches.push(texts(rs)), { group: `${name36()}-g`, maxBatch: 100, lingerMs: 300 });
      const started = Date.now();
      for (const v of ['a', 'b', 'c']) await bus.publish(t, 'k', bytes(v));
      await until(() => batches.flat().length === 3, 'the three records');
      assert.deepEqual(batches.flat(), ['a', 'b', 'c']);
      assert.ok(Date.now() - started < timeoutMs, 'a batch that is not full is not held for good');
    });

    it('hands a batch what waited, up to maxBatch, in order, and never waits for a batch to fill', async () => {
      bus = await factory();
      const t = `${name36()}-fill`;
      const sent = Array.from({ length: 7 }, (_, i) => String(i));
      for (const v of sent) await bus.publish(t, 'k', bytes(v));
      const batches: string[][] = [];
      let inFlight = 0;
      let overlapped = false;
      await sub(
        t,
        async (rs) => {
          overlapped ||= ++inFlight > 1;
          batches.push(texts(rs));
          await Promise.resolve();
          inFlight--;
        },
        { group: `${name36()}-g`, fromBeginning: true, maxBatch: 3 },
      );
      await until(() => batches.flat().length === 7, 'the 7 waiting records');
      assert.deepEqual(batches.flat(), sent);
      assert.ok(batches.every((b) => b.length >= 1 && b.length <= 3), `batches of 1..3: ${JSON.stringify(batches)}`);
      assert.ok(batches.some((b) => b.length > 1), `waiting records come together: ${JSON.stringify(batches)}`);
      await bus.publish(t, 'k', bytes('late'));
      await until(() => batches.flat().length === 8, 'a lone record, without waiting for more');
      assert.deepEqual(batches.at(-1), ['late']);
      assert.equal(overlapped, false, 'handler calls never overlap');
    });

    it('hands each record of a group to exactly one of its batch subscriptions, in order per key', async () => {
      bus = await factory();
      const t = `${name36()}-group`;
      const group = `${name36()}-g`;
      const handled: Record<'a' | 'b', { key: string; value: string }[]> = { a: [], b: [] };
      const sizes: number[] = [];
      const handler = (me: 'a' | 'b') => (rs: BusRecord[]) => {
        sizes.push(rs.length);
        for (const r of rs) handled[me].push({ key: r.key, value: text(r) });
      };
      await sub(t, handler('a'), { group, maxBatch: 4 });
      await sub(t, handler('b'), { group, maxBatch: 4 });
      const sent = Array.from({ length: 60 }, (_, i) => ({ key: `conv-${i % 12}`, value: String(i) }));
      for (const r of sent) await bus.publish(t, r.key, bytes(r.value));
      await until(() => handled.a.length + handled.b.length >= 60, 'every record handled by the group');
      assert.equal(handled.a.length + handled.b.length, 60, 'no record handled twice');
      assert.ok(handled.a.length > 0 && handled.b.length > 0, `both subscriptions compete (a=${handled.a.length}, b=${handled.b.length})`);
      assert.ok(sizes.every((n) => n >= 1 && n <= 4), `batch sizes ${sizes.join(',')}`);
      for (const key of new Set(sent.map((r) => r.key))) {
        const want = sent.filter((r) => r.key === key).map((r) => r.value);
        const inA = handled.a.filter((r) => r.key === key).map((r) => r.value);
        const inB = handled.b.filter((r) => r.key === key).map((r) => r.value);
        assert.ok(inA.length === 0 || inB.length === 0, `key ${key} handled by one subscription`);
        assert.deepEqual(inA.length > 0 ? inA : inB, want, `key ${key} handled once, in order`);
      }
    });

    it('redelivers to the group a batch whose subscription closed before its handler resolved', async () => {
      bus = await factory();
      const t = `${name36()}-redeliver`;
      const group = `${name36()}-g`;
      let release!: () => void;
      const stuck = new Promise<void>((r) => (release = r));
      const handledBy: Record<'a' | 'b', string[]> = { a: [], b: [] };
      let first: 'a' | 'b' | undefined;
      const handler = (me: 'a' | 'b') => async (rs: BusRecord[]) => {
        if (texts(rs).includes('x') && first === undefined) {
          first = me;
          await stuck; // never finishes while the subscription is live
        }
        handledBy[me].push(...texts(rs));
      };
      const subs = { a: await sub(t, handler('a'), { group, maxBatch: 10 }), b: await sub(t, handler('b'), { group, maxBatch: 10 }) };
      try {
        await bus.publish(t, 'k', bytes('x'));
        await bus.publish(t, 'k', bytes('y'));
        await until(() => first !== undefined, 'the first delivery of x');
        const other = first === 'a' ? 'b' : 'a';
        await subs[first!].close();
        await until(() => handledBy[other].length === 2, 'x and y on the other subscription');
        assert.deepEqual(handledBy[other], ['x', 'y']);
      } finally {
        release();
      }
    });

    for (const mode of ['broadcast', 'group'] as const) {
      const opts = (maxBatch: number): BatchSubscribeOptions => (mode === 'group' ? { group: `${name36()}-g`, maxBatch } : { maxBatch });

      it(`calls a failing batch handler again with the same batch, in place (${mode})`, async () => {
        bus = await factory();
        const t = `${name36()}-retry`;
        const calls: string[][] = [];
        const handled: string[] = [];
        await sub(
          t,
          (rs) => {
            calls.push(texts(rs));
            if (texts(rs).includes('x') && calls.filter((c) => c.includes('x')).length === 1) throw new Error('transient');
            handled.push(...texts(rs));
          },
          opts(10),
        );
        for (const v of ['a', 'x', 'b']) await bus.publish(t, 'k', bytes(v));
        await until(() => handled.length === 3, 'all three records handled');
        assert.deepEqual(handled, ['a', 'x', 'b']);
        const failed = calls.findIndex((c) => c.includes('x'));
        assert.deepEqual(calls[failed + 1], calls[failed], 'the same batch again');
      });

      it(`splits a batch that keeps failing: parks only the poison record and handles the others (${mode})`, async () => {
        bus = await factory();
        const t = `${name36()}-poison`;
        const parked: BusRecord[] = [];
        await bus.subscribe(parkedTopic(t), (r) => void parked.push(r)).ready;
        // Published before the subscription starts, so that they wait together and meet in a batch.
        for (const v of ['a', 'poison', 'b']) await bus.publish(t, 'k', bytes(v), { headers: { trace: v } });
        const calls: string[][] = [];
        const handled: string[] = [];
        const o = { ...opts(10), fromBeginning: true };
        await sub(
          t,
          (rs) => {
            calls.push(texts(rs));
            if (texts(rs).includes('poison')) throw new Error('cannot decode poison');
            handled.push(...texts(rs));
          },
          o,
        );
        await until(() => handled.length === 2 && parked.length === 1, 'the good records handled and the poison parked');
        await bus.publish(t, 'k', bytes('c'));
        await until(() => handled.length === 3, 'the next record after the poison');
        assert.deepEqual(handled, ['a', 'b', 'c']);
        assert.ok(calls.some((c) => c.length > 1 && c.includes('poison')), `the poison came in a batch first: ${JSON.stringify(calls)}`);
        const alone = calls.filter((c) => c.length === 1 && c[0] === 'poison').length;
        assert.ok(alone >= 2, 'retried alone before parking');
        const [p] = parked;
        assert.equal(text(p), 'poison');
        assert.equal(p.key, 'k');
        assert.equal(p.headers?.trace, 'poison');
        assert.equal(p.headers?.[PARKED_HEADERS.topic], t);
        assert.equal(p.headers?.[PARKED_HEADERS.group], o.group ?? 'broadcast');
        assert.equal(p.headers?.[PARKED_HEADERS.attempts], String(alone));
        assert.match(p.headers?.[PARKED_HEADERS.error] ?? '', /cannot decode poison/);
      });
    }
  });
}

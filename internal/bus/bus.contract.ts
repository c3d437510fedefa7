import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { PARKED_HEADERS, parkedTopic, type Bus, type BusRecord, type SubscribeOptions, type Subscription } from './bus';
import { waitUntil } from '../testing/wait-until';

export interface BusContractOptions {
  /** Prepended to every topic and group name, so runs sharing a server never meet. */
  prefix?: string;
  /** Bound on each wait for deliveries. */
  timeoutMs?: number;
}

/**
 * The Bus guarantees, run against every adapter (memory beside this file, Kafka in the engine
 * suite). The factory builds a fresh bus whose delivery policy allows at least 2 attempts with a
 * short backoff.
 */
export function busContract(name: string, factory: () => Promise<Bus>, options: BusContractOptions = {}): void {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const name36 = () => `${options.prefix ?? ''}${Math.random().toString(36).slice(2, 10)}`;
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (r: BusRecord) => new TextDecoder().decode(r.payload);
  const until = (cond: () => boolean, what: string) => waitUntil(cond, timeoutMs, what);
  const byKey = (records: { key: string; value: string }[]) => {
    const out = new Map<string, string[]>();
    for (const r of records) out.set(r.key, [...(out.get(r.key) ?? []), r.value]);
    return out;
  };

  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    afterEach(async () => bus?.close());

    /** Subscribes and waits until the subscription is ready. */
    async function sub(topic: string, handle: (r: BusRecord) => Promise<void> | void, opts?: SubscribeOptions): Promise<Subscription> {
      const s = bus.subscribe(topic, handle, opts);
      await s.ready;
      return s;
    }

    it('broadcasts every record to every subscription, in order per key', async () => {
      bus = await factory();
      const t = `${name36()}-bcast`;
      const a: { key: string; value: string }[] = [];
      const b: { key: string; value: string }[] = [];
      await sub(t, (r) => void a.push({ key: r.key, value: text(r) }));
      await sub(t, (r) => void b.push({ key: r.key, value: text(r) }));
      const sent: { key: string; value: string }[] = [];
      for (let i = 0; i < 30; i++) sent.push({ key: `k${i % 3}`, value: String(i) });
      for (const r of sent) await bus.publish(t, r.key, bytes(r.value));
      await until(() => a.length === 30 && b.length === 30, '30 records on both subscriptions');
      assert.deepEqual(byKey(a), byKey(sent));
      assert.deepEqual(byKey(b), byKey(sent));
    });

    it('starts a subscription at its ready, or at the oldest retained record with fromBeginning', async () => {
      bus = await factory();
      const t = `${name36()}-start`;
      await bus.publish(t, 'k', bytes('before'));
      const latest: string[] = [];
      const oldest: string[] = [];
      await sub(t, (r) => void latest.push(text(r)));
      await sub(t, (r) => void oldest.push(text(r)), { fromBeginning: true });
      await bus.publish(t, 'k', bytes('after'));
      await until(() => latest.length === 1 && oldest.length === 2, 'the record published after ready');
      assert.deepEqual(latest, ['after']);
      assert.deepEqual(oldest, ['before', 'after']);
    });

    it('stops delivering after close', async () => {
      bus = await factory();
      const t = `${name36()}-close`;
      const seen: string[] = [];
      const s = await sub(t, (r) => void seen.push(text(r)));
      await bus.publish(t, 'k', bytes('1'));
      await until(() => seen.length === 1, 'the first record');
      await s.close();
      await bus.publish(t, 'k', bytes('2'));
      const probe: string[] = [];
      await sub(t, (r) => void probe.push(text(r)));
      await bus.publish(t, 'k', bytes('3'));
      await until(() => probe.length === 1, 'a later subscription to see the last record');
      assert.deepEqual(seen, ['1']);
    });

    it('hands each record of a group to exactly one of its subscriptions, in order per key', async () => {
      bus = await factory();
      const t = `${name36()}-group`;
      const group = `${name36()}-g`;
      const a: { key: string; value: string }[] = [];
      const b: { key: string; value: string }[] = [];
      const all: string[] = [];
      await sub(t, (r) => void a.push({ key: r.key, value: text(r) }), { group });
      await sub(t, (r) => void b.push({ key: r.key, value: text(r) }), { group });
      await sub(t, (r) => void all.push(text(r)));
      const sent: { key: string; value: string }[] = [];
      for (let i = 0; i < 60; i++) sent.push({ key: `conv-${i % 12}`, value: String(i) });
      for (const r of sent) await bus.publish(t, r.key, bytes(r.value));
      await until(() => a.length + b.length >= 60 && all.length === 60, 'every record handled by the group');
      assert.equal(a.length + b.length, 60, 'no record handled twice');
      assert.ok(a.length > 0 && b.length > 0, `both subscriptions compete (a=${a.length}, b=${b.length})`);
      const handled = byKey([...a, ...b]);
      for (const [key, values] of byKey(sent)) {
        assert.deepEqual(handled.get(key), values, `key ${key} handled once, in order`);
        const inA = byKey(a).has(key);
        const inB = byKey(b).has(key);
        assert.ok(inA !== inB, `key ${key} handled by one subscription`);
      }
      assert.equal(all.length, 60, 'a broadcast subscription beside the group still sees everything');
    });

    it('keeps a group position while no subscription is live', async () => {
      bus = await factory();
      const t = `${name36()}-durable`;
      const group = `${name36()}-g`;
      const first: string[] = [];
      const s = await sub(t, (r) => void first.push(text(r)), { group });
      await bus.publish(t, 'k', bytes('1'));
      await until(() => first.length === 1, 'the first record');
      await s.close();
      await bus.publish(t, 'k', bytes('2'));
      await bus.publish(t, 'k', bytes('3'));
      const second: string[] = [];
      await sub(t, (r) => void second.push(text(r)), { group, fromBeginning: true });
      await until(() => second.length === 2, 'the records published while the group was empty');
      assert.deepEqual(second, ['2', '3'], 'resumes where the group left off, fromBeginning notwithstanding');
    });

    it('redelivers to the group a record whose subscription closed before its handler resolved', async () => {
      bus = await factory();
      const t = `${name36()}-redeliver`;
      const group = `${name36()}-g`;
      let release!: () => void;
      const stuck = new Promise<void>((r) => (release = r));
      const handledBy: Record<'a' | 'b', string[]> = { a: [], b: [] };
      let first: 'a' | 'b' | undefined;
      const handler = (me: 'a' | 'b') => async (r: BusRecord) => {
        if (text(r) === 'x' && first === undefined) {
          first = me;
          await stuck; // never finishes while the subscription is live
        }
        handledBy[me].push(text(r));
      };
      const subs = { a: await sub(t, handler('a'), { group }), b: await sub(t, handler('b'), { group }) };
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
      const opts = (): SubscribeOptions | undefined => (mode === 'group' ? { group: `${name36()}-g` } : undefined);

      it(`calls a failing handler again for the same record, in order (${mode})`, async () => {
        bus = await factory();
        const t = `${name36()}-retry`;
        const handled: string[] = [];
        let calls = 0;
        await sub(
          t,
          (r) => {
            if (text(r) === 'x' && ++calls === 1) throw new Error('transient');
            handled.push(text(r));
          },
          opts(),
        );
        for (const v of ['a', 'x', 'b']) await bus.publish(t, 'k', bytes(v));
        await until(() => handled.length === 3, 'all three records handled');
        assert.deepEqual(handled, ['a', 'x', 'b']);
        assert.equal(calls, 2);
      });

      it(`parks a record whose handler keeps failing and moves on (${mode})`, async () => {
        bus = await factory();
        const t = `${name36()}-poison`;
        const parked: BusRecord[] = [];
        await sub(parkedTopic(t), (r) => void parked.push(r));
        const handled: string[] = [];
        let poisonCalls = 0;
        const o = opts();
        await sub(
          t,
          (r) => {
            if (text(r) === 'poison') {
              poisonCalls++;
              throw new Error('cannot decode poison');
            }
            handled.push(text(r));
          },
          o,
        );
        await bus.publish(t, 'k', bytes('poison'), { headers: { trace: 'abc' } });
        await bus.publish(t, 'k', bytes('ok'));
        await until(() => handled.length === 1 && parked.length === 1, 'the good record handled and the poison parked');
        assert.deepEqual(handled, ['ok']);
        const [p] = parked;
        assert.equal(text(p), 'poison');
        assert.equal(p.key, 'k');
        assert.equal(p.headers?.trace, 'abc');
        assert.equal(p.headers?.[PARKED_HEADERS.topic], t);
        assert.equal(p.headers?.[PARKED_HEADERS.group], o?.group ?? 'broadcast');
        assert.equal(p.headers?.[PARKED_HEADERS.attempts], String(poisonCalls));
        assert.ok(poisonCalls >= 2, 'retried before parking');
        assert.match(p.headers?.[PARKED_HEADERS.error] ?? '', /cannot decode poison/);
      });
    }
  });
}

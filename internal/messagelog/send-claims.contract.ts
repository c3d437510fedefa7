import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { waitUntil } from '../testing/wait-until';
import type { ClaimResult, SendClaims } from './send-claims';

/** What the contract needs: claims with a given TTL, as separate chat servers would hold them. */
export interface SendClaimsHarness {
  claims(ttlMs: number, sequenceTtlMs?: number): SendClaims;
}

let n = 0;
const message = (senderId: string, clientMsgId: string, text = 'hi', conversationId = `dm:${senderId}:zz`): ChatMessage => ({
  messageId: String(1_000_000 + ++n),
  conversationId,
  senderId,
  clientMsgId,
  text,
  createdAt: new Date(),
  seq: '0',
  epoch: '0',
});

/** The message of a claim that must have been numbered. */
function won(r: ClaimResult): ChatMessage {
  assert.ok('message' in r, `expected a claimed message, got behind ${'behind' in r ? r.behind : ''}`);
  return r.message;
}

/** The SendClaims guarantees, run against every adapter (memory here, Redis in the engines suite). */
export function sendClaimsContract(name: string, harness: () => SendClaimsHarness): void {
  describe(`SendClaims contract: ${name}`, () => {
    const uniq = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

    it('gives the first claimant its own message and every later claim of the key the same one', async () => {
      const claims = harness().claims(60_000);
      const first = message(`u1${uniq}`, 'c1', 'original');
      assert.deepEqual(won(await claims.claim(first)), { ...first, seq: '1', epoch: first.messageId });
      const retry = won(await claims.claim(message(`u1${uniq}`, 'c1', 'retried text')));
      assert.equal(retry.messageId, first.messageId);
      assert.equal(retry.text, 'original', 'the retry is answered with the original message');
      assert.equal(retry.seq, '1', 'and its original number');
    });

    it('tells a retry whether the claimed message was noted appended, across holders', async () => {
      const h = harness();
      const first = message(`u6${uniq}`, 'ap');
      won(await h.claims(60_000).claim(first));
      const before = await h.claims(60_000).claim(message(`u6${uniq}`, 'ap'));
      assert.ok('message' in before && !before.appended, 'not noted yet');
      await h.claims(60_000).appended({ ...first, seq: '1', epoch: first.messageId });
      const after = await h.claims(60_000).claim(message(`u6${uniq}`, 'ap'));
      assert.ok('message' in after && after.appended === true);
      assert.equal(after.message.messageId, first.messageId);
    });

    it('keeps different senders and different client ids apart', async () => {
      const claims = harness().claims(60_000);
      const a = message(`u2${uniq}`, 'same');
      const b = message(`u3${uniq}`, 'same');
      const c = message(`u2${uniq}`, 'other');
      for (const m of [a, b, c]) assert.equal(won(await claims.claim(m)).messageId, m.messageId);
    });

    it('lets exactly one of concurrent claims win, across separate holders', async () => {
      const h = harness();
      const contenders = Array.from({ length: 8 }, () => message(`u4${uniq}`, 'race'));
      const results = (await Promise.all(contenders.map((m) => h.claims(60_000).claim(m)))).map(won);
      assert.equal(new Set(results.map((r) => r.messageId)).size, 1, 'every contender sees one winner');
      assert.ok(contenders.some((m) => m.messageId === results[0].messageId));
      assert.deepEqual(new Set(results.map((r) => r.seq)), new Set(['1']), 'the race took one number');
    });

    it('frees the key once the claim expires', async () => {
      const claims = harness().claims(200);
      const first = message(`u5${uniq}`, 'ttl');
      await claims.claim(first);
      const later = message(`u5${uniq}`, 'ttl');
      await waitUntil(async () => won(await claims.claim(later)).messageId === later.messageId, 5_000, 'the claim to expire');
    });

    it('numbers each conversation 1, 2, 3 in claim order, across holders, retries taking no number', async () => {
      const h = harness();
      const conv = `dm:a${uniq}:b${uniq}`;
      const other = `dm:a${uniq}:c${uniq}`;
      const first = message(`a${uniq}`, 'n1', 'hi', conv);
      assert.equal(won(await h.claims(60_000).claim(first)).seq, '1');
      assert.equal(won(await h.claims(60_000).claim(message(`a${uniq}`, 'n1', 'retry', conv))).seq, '1', 'a retry keeps its number');
      assert.equal(won(await h.claims(60_000).claim(message(`a${uniq}`, 'o1', 'hi', other))).seq, '1', 'conversations count apart');
      const second = won(await h.claims(60_000).claim(message(`b${uniq}`, 'n2', 'hi', conv)));
      assert.deepEqual([second.seq, second.epoch], ['2', first.messageId], 'the next number, in the epoch of the first message');
      assert.equal(won(await h.claims(60_000).claim(message(`a${uniq}`, 'n3', 'hi', conv))).seq, '3');
    });

    it('refuses a draft whose id is not above the conversation newest, claiming nothing', async () => {
      const h = harness();
      const conv = `dm:c${uniq}:d${uniq}`;
      const late = message(`c${uniq}`, 'late', 'hi', conv);
      const ahead = message(`d${uniq}`, 'ahead', 'hi', conv);
      won(await h.claims(60_000).claim(ahead));
      assert.deepEqual(await h.claims(60_000).claim(late), { behind: BigInt(ahead.messageId) });
      const retried = won(await h.claims(60_000).claim({ ...late, messageId: String(BigInt(ahead.messageId) + 1n) }));
      assert.equal(retried.seq, '2', 'the refused draft took no number; its retry with a newer id gets the next');
    });

    it('starts a new epoch at 1 once a conversation is idle past its numbering TTL', async () => {
      const claims = harness().claims(60_000, 200);
      const conv = `dm:e${uniq}:f${uniq}`;
      const first = won(await claims.claim(message(`e${uniq}`, 't1', 'hi', conv)));
      assert.equal(first.seq, '1');
      await delay(500); // idle: nothing renews the numbering
      const next = won(await claims.claim(message(`e${uniq}`, 't2', 'hi', conv)));
      assert.deepEqual([next.seq, next.epoch], ['1', next.messageId], 'a new epoch, named by its first message');
    });
  });
}

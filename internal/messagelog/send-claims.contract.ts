import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatMessage } from '../../gen/chat/v1/message';
import { waitUntil } from '../testing/wait-until';
import type { SendClaims } from './send-claims';

/** What the contract needs: claims with a given TTL, as separate chat servers would hold them. */
export interface SendClaimsHarness {
  claims(ttlMs: number): SendClaims;
}

let n = 0;
const message = (senderId: string, clientMsgId: string, text = 'hi'): ChatMessage => ({
  messageId: String(1_000_000 + ++n),
  conversationId: `dm:${senderId}:zz`,
  senderId,
  clientMsgId,
  text,
  createdAt: new Date(),
});

/** The SendClaims guarantees, run against every adapter (memory here, Redis in the engines suite). */
export function sendClaimsContract(name: string, harness: () => SendClaimsHarness): void {
  describe(`SendClaims contract: ${name}`, () => {
    const uniq = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

    it('gives the first claimant its own message and every later claim of the key the same one', async () => {
      const claims = harness().claims(60_000);
      const first = message(`u1${uniq}`, 'c1', 'original');
      assert.deepEqual(await claims.claim(first), first);
      const retry = await claims.claim(message(`u1${uniq}`, 'c1', 'retried text'));
      assert.equal(retry.messageId, first.messageId);
      assert.equal(retry.text, 'original', 'the retry is answered with the original message');
    });

    it('keeps different senders and different client ids apart', async () => {
      const claims = harness().claims(60_000);
      const a = message(`u2${uniq}`, 'same');
      const b = message(`u3${uniq}`, 'same');
      const c = message(`u2${uniq}`, 'other');
      for (const m of [a, b, c]) assert.equal((await claims.claim(m)).messageId, m.messageId);
    });

    it('lets exactly one of concurrent claims win, across separate holders', async () => {
      const h = harness();
      const contenders = Array.from({ length: 8 }, () => message(`u4${uniq}`, 'race'));
      const results = await Promise.all(contenders.map((m) => h.claims(60_000).claim(m)));
      assert.equal(new Set(results.map((r) => r.messageId)).size, 1, 'every contender sees one winner');
      assert.ok(contenders.some((m) => m.messageId === results[0].messageId));
    });

    it('frees the key once the claim expires', async () => {
      const claims = harness().claims(200);
      const first = message(`u5${uniq}`, 'ttl');
      await claims.claim(first);
      const later = message(`u5${uniq}`, 'ttl');
      await waitUntil(async () => (await claims.claim(later)).messageId === later.messageId, 5_000, 'the claim to expire');
    });
  });
}

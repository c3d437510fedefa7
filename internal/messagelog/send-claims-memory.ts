import type { ChatMessage } from '../../gen/chat/v1/message';
import { claimKey, type ClaimResult, type SendClaims } from './send-claims';

interface Numbering {
  seq: bigint;
  epoch: string;
  newestId: bigint;
  expiresAtMs: number;
}

/** SendClaims in one process (tests): maps pruned of expired entries as they are used. */
export class MemorySendClaims implements SendClaims {
  private readonly claims = new Map<string, { message: ChatMessage; expiresAtMs: number; appended?: boolean }>();
  private readonly numbering = new Map<string, Numbering>();

  constructor(private readonly opts: { ttlMs: number; sequenceTtlMs?: number; now?: () => number }) {}

  claim(draft: ChatMessage): Promise<ClaimResult> {
    const now = (this.opts.now ?? Date.now)();
    this.prune(now);
    const key = claimKey(draft);
    const held = this.claims.get(key);
    if (held && held.expiresAtMs > now) return Promise.resolve({ message: held.message, appended: held.appended === true });
    const id = BigInt(draft.messageId);
    let n = this.numbering.get(draft.conversationId);
    if (n && n.expiresAtMs <= now) n = undefined;
    if (n && n.newestId >= id) return Promise.resolve({ behind: n.newestId });
    const message: ChatMessage = { ...draft, seq: String((n?.seq ?? 0n) + 1n), epoch: n?.epoch ?? draft.messageId };
    // Re-inserted so the map stays in expiry order.
    this.numbering.delete(draft.conversationId);
    this.numbering.set(draft.conversationId, { seq: BigInt(message.seq), epoch: message.epoch, newestId: id, expiresAtMs: now + (this.opts.sequenceTtlMs ?? Number.MAX_SAFE_INTEGER) });
    this.claims.set(key, { message, expiresAtMs: now + this.opts.ttlMs });
    return Promise.resolve({ message });
  }

  appended(message: ChatMessage): Promise<void> {
    const held = this.claims.get(claimKey(message));
    if (held?.message.messageId === message.messageId) held.appended = true;
    return Promise.resolve();
  }

  /** Map iteration is in insertion order, which is expiry order (one fixed TTL per map). */
  private prune(now: number): void {
    for (const map of [this.claims, this.numbering]) {
      for (const [key, c] of map) {
        if (c.expiresAtMs > now) break;
        map.delete(key);
      }
    }
  }
}

import type { ChatMessage } from '../../gen/chat/v1/message';
import { claimKey, type SendClaims } from './send-claims';

/** SendClaims in one process: a map pruned of expired claims as it is used. */
export class MemorySendClaims implements SendClaims {
  private readonly claims = new Map<string, { message: ChatMessage; expiresAtMs: number }>();

  constructor(private readonly opts: { ttlMs: number; now?: () => number }) {}

  claim(message: ChatMessage): Promise<ChatMessage> {
    const now = (this.opts.now ?? Date.now)();
    this.prune(now);
    const key = claimKey(message);
    const held = this.claims.get(key);
    if (held && held.expiresAtMs > now) return Promise.resolve(held.message);
    this.claims.set(key, { message, expiresAtMs: now + this.opts.ttlMs });
    return Promise.resolve(message);
  }

  /** Map iteration is in insertion order, which is expiry order (one fixed TTL). */
  private prune(now: number): void {
    for (const [key, c] of this.claims) {
      if (c.expiresAtMs > now) return;
      this.claims.delete(key);
    }
  }
}

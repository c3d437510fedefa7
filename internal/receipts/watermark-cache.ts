import type { StoredReceiptKind } from './receipt-store';

/**
 * What one process has seen of stored watermarks: per (conversation, user, kind) a value the
 * stored watermark is known to be at or past, because this process read or wrote it. Watermarks
 * only grow, so a remembered value never overstates the stored one, whatever other processes
 * write: an advance to an id at or below it is a no-op without asking the store.
 *
 * Bounded: past `maxEntries` the least recently raised entry is forgotten (it then costs one read
 * again). About 200 bytes an entry.
 */
export class WatermarkCache {
  // A Map iterates in insertion order: re-inserting on every raise keeps the stalest entry first.
  private readonly known = new Map<string, bigint>();

  constructor(private readonly maxEntries: number) {}

  /** The remembered lower bound of the stored watermark, if any. */
  get(conversationId: string, userId: string, kind: StoredReceiptKind): bigint | undefined {
    return this.known.get(watermarkKey(conversationId, userId, kind));
  }

  /** Records that the stored watermark is at least `value` (a smaller value changes nothing). */
  raise(conversationId: string, userId: string, kind: StoredReceiptKind, value: bigint): void {
    if (this.maxEntries <= 0) return;
    const k = watermarkKey(conversationId, userId, kind);
    const before = this.known.get(k);
    if (before !== undefined && before >= value) return;
    this.known.delete(k);
    this.known.set(k, value);
    if (this.known.size > this.maxEntries) this.known.delete(this.known.keys().next().value!);
  }

  get size(): number {
    return this.known.size;
  }
}

/** One string per (conversation, user, kind). */
export function watermarkKey(conversationId: string, userId: string, kind: StoredReceiptKind): string {
  // Length-prefixed, so no pair of ids can spell another pair's key.
  return `${kind}:${conversationId.length}:${conversationId}${userId}`;
}

/**
 * A set of strings that forgets its oldest entries beyond `capacity` (insertion order, refreshed
 * on `add`). The adapters use it to remember idempotent writes they already made, e.g. "user U's
 * conversation list holds C", so a hot path skips them; forgetting one only costs a repeated write.
 */
export class BoundedSet {
  private readonly entries = new Set<string>();

  constructor(private readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`capacity must be a non-negative integer, got ${capacity}`);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  add(key: string): void {
    if (this.capacity === 0) return;
    this.entries.delete(key);
    this.entries.add(key);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.values().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
